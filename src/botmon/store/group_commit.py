"""Group commit: callers that wait for one lock get their items written in one go.

Why: a DuckDB commit costs about as much as writing a 10,000-row batch, and ``botmon serve``
has several store threads that each hold a batch while one of them writes. Instead of one
transaction per batch, the thread that gets the write lock (the leader) takes every item
waiting at that moment, up to a bound, and writes them together; the others (followers) find
their result ready when they get the lock and return at once. A lone caller forms a group of
one, so it pays what it paid before. Each caller gets its own result or exception, and only
after the write holding its item has finished.

The class knows nothing about databases: ``write_group`` gets the items of one group, under the
lock, and returns one result (or exception) per item in the same order.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

GroupWriter = Callable[[Sequence[T]], Sequence[R | BaseException]]


@dataclass(slots=True)
class _Entry(Generic[T, R]):
    item: T
    weight: int
    done: bool = False
    result: R | None = None
    error: BaseException | None = field(default=None)


class GroupCommit(Generic[T, R]):
    """Writes items of concurrent callers in groups, one group at a time under ``lock``.

    A group holds at most ``max_items`` items and at most ``max_weight`` weight (rows, say),
    so a burst of callers cannot make one transaction, and its latency and memory, unbounded;
    an item heavier than ``max_weight`` still goes alone. Items are taken in arrival order.
    """

    def __init__(
        self,
        lock: threading.Lock,
        write_group: GroupWriter[T, R],
        *,
        max_items: int = 16,
        max_weight: int = 200_000,
    ) -> None:
        if max_items < 1 or max_weight < 1:
            raise ValueError("a group must be allowed at least one item and some weight")
        self._lock = lock
        self._write_group = write_group
        self.max_items = max_items
        self.max_weight = max_weight
        self._queue: deque[_Entry[T, R]] = deque()
        self._queue_lock = threading.Lock()
        self.groups = 0
        """Groups written so far (one ``write_group`` call, one transaction, each)."""
        self.items = 0
        """Items written so far, over every group."""
        self.largest = 0
        """The most items one group held."""

    def pending(self) -> int:
        """Items waiting for a leader to take them."""
        with self._queue_lock:
            return len(self._queue)

    def submit(self, item: T, weight: int = 1) -> R:
        """Write ``item`` (alone or with others waiting now); its result, or raise its error."""
        entry: _Entry[T, R] = _Entry(item, weight)
        with self._queue_lock:
            self._queue.append(entry)
        while not entry.done:
            with self._lock:
                # A leader may have written this entry while we waited for the lock; the
                # results of a group are set before its leader lets go of the lock.
                if not entry.done:
                    self._lead()
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]  # set with done when no error

    def _take(self) -> list[_Entry[T, R]]:
        """The oldest waiting entries that fit one group (always at least one)."""
        group: list[_Entry[T, R]] = []
        weight = 0
        with self._queue_lock:
            while self._queue and len(group) < self.max_items:
                nxt = self._queue[0]
                if group and weight + nxt.weight > self.max_weight:
                    break
                group.append(self._queue.popleft())
                weight += nxt.weight
        return group

    def _lead(self) -> None:
        """Write one group, under the lock; our own entry is in it unless others came first."""
        group = self._take()
        if not group:
            return
        try:
            results = list(self._write_group([e.item for e in group]))
            if len(results) != len(group):
                raise RuntimeError(
                    f"group writer returned {len(results)} results for {len(group)} items"
                )
        except BaseException as exc:  # every caller of this group sees it, not only the leader
            results = [exc] * len(group)
        self.groups += 1
        self.items += len(group)
        self.largest = max(self.largest, len(group))
        for entry, got in zip(group, results, strict=True):
            if isinstance(got, BaseException):
                entry.error = got
            else:
                entry.result = got
            entry.done = True
