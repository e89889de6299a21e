"""The client's disk spool: every sealed batch lives here until the server acknowledged it.

Layout of a spool directory::

    .lock                               held (flock) by the one client using the spool
    pending/<seq>-n<records>-<batch_id>.json   batches to send, oldest (lowest seq) first
    pending/.<name>.tmp                         a write in progress; removed on open if left over
    rejected/<seq>-n<records>-<batch_id>.json  batches the server refused for good
    rejected/<name>.reason.txt          why (HTTP status and the server's error body)
    journal/<run>-<n>.jsonl             records not yet in pending/ (botmon.client.journal)

A batch file holds the exact JSON body of ``POST /api/v1/ingest``, so a re-send after a crash
is byte for byte the first send and carries the same batch id. Writes are atomic (temporary
file, fsync, rename, fsync of the directory): after a crash a file is either complete or
absent. The spool is bounded in bytes; a batch that does not fit (or meets a full disk)
raises :class:`SpoolFull` and nothing already spooled is dropped: the caller keeps the
batch and applies back-pressure until the sender has made room.
Methods are thread-safe: the writer runs in a worker thread, the sender in the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from botmon.client.errors import SpoolError, SpoolFull

_NAME = re.compile(r"^(\d{16})-n(\d{1,6})-([0-9A-Za-z_.-]{1,128})\.json$")


@dataclass(slots=True)
class SpoolEntry:
    """One spooled batch."""

    seq: int
    batch_id: str
    path: Path
    size: int
    records: int
    """Records in the batch (all kinds), kept in the file name for the drop accounting."""
    replayed: bool
    """True when the batch was already in the spool when it was opened (left by a restart)."""
    in_flight: bool = False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _atomic_write(path: Path, body: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in _NO_SPACE:
            raise SpoolFull(f"no space left for {path.name}: {exc}") from exc
        raise
    _fsync_dir(path.parent)


class Spool:
    """An ordered, bounded, crash-safe queue of batch bodies on disk."""

    def __init__(self, directory: Path, max_bytes: int, rejected_max_files: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.rejected_max_files = rejected_max_files
        self.pending_dir = self.directory / "pending"
        self.rejected_dir = self.directory / "rejected"
        try:
            # Records name infected hosts: only the crawler's user may read the spool.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.pending_dir.mkdir(mode=0o700, exist_ok=True)
            self.rejected_dir.mkdir(mode=0o700, exist_ok=True)
            self._lock_fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot use spool directory {self.directory}: {exc}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise SpoolError(
                f"spool directory {self.directory} is in use by another report client"
            ) from None
        self._lock = threading.Lock()
        self._entries: deque[SpoolEntry] = deque()
        self._bytes = 0
        self._closed = False
        self._scan()
        self._next_seq = (self._entries[-1].seq + 1) if self._entries else 1
        rejected = [p for p in self.rejected_dir.iterdir() if _NAME.match(p.name)]
        if rejected:
            self._next_seq = max(self._next_seq, max(int(p.name[:16]) for p in rejected) + 1)

    def _scan(self) -> None:
        found: list[SpoolEntry] = []
        for path in self.pending_dir.iterdir():
            if path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # an interrupted write: the batch was never sealed
                continue
            match = _NAME.match(path.name)
            if match is None:
                continue
            size = path.stat().st_size
            found.append(
                SpoolEntry(int(match[1]), match[3], path, size, int(match[2]), replayed=True)
            )
        found.sort(key=lambda e: e.seq)
        self._entries.extend(found)
        self._bytes = sum(e.size for e in found)

    # -- queries ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_bytes(self) -> int:
        """Bytes of all pending batches."""
        return self._bytes

    # -- writer side -----------------------------------------------------------------------
    def write(
        self, batch_id: str, body: bytes, records: int, *, over_cap: bool = False
    ) -> SpoolEntry:
        """Store a sealed batch; :class:`SpoolFull` when the cap or the disk leaves no room.

        An empty spool takes any batch, so one batch larger than the cap cannot stall it;
        ``over_cap`` writes past the cap (the halves of a split batch replace their whole).
        """
        with self._lock:
            if self._closed:
                raise SpoolError("spool is closed")
            if not over_cap and self._entries and self._bytes + len(body) > self.max_bytes:
                raise SpoolFull(
                    f"spool {self.pending_dir} holds {self._bytes} of {self.max_bytes} bytes"
                )
            seq = self._next_seq
            self._next_seq += 1
        path = self.pending_dir / f"{seq:016d}-n{records}-{batch_id}.json"
        _atomic_write(path, body)
        entry = SpoolEntry(seq, batch_id, path, len(body), records, replayed=False)
        with self._lock:
            # Entries are kept in seq order even when two writes finish out of order.
            if self._entries and self._entries[-1].seq > seq:
                items = sorted([*self._entries, entry], key=lambda e: e.seq)
                self._entries.clear()
                self._entries.extend(items)
            else:
                self._entries.append(entry)
            self._bytes += entry.size
        return entry

    def holds(self, batch_id: str) -> bool:
        """True when a batch with this id is pending (a journal replay skips it)."""
        with self._lock:
            return any(e.batch_id == batch_id for e in self._entries)

    # -- sender side -----------------------------------------------------------------------
    def next_to_send(self) -> SpoolEntry | None:
        """The oldest batch not being sent, marked as in flight."""
        with self._lock:
            for entry in self._entries:
                if not entry.in_flight:
                    entry.in_flight = True
                    return entry
        return None

    def release(self, entry: SpoolEntry) -> None:
        """Give back an in-flight batch unsent; it stays first in line."""
        with self._lock:
            entry.in_flight = False

    def read(self, entry: SpoolEntry) -> bytes:
        """The stored body of a batch."""
        return entry.path.read_bytes()

    def remove(self, entry: SpoolEntry) -> None:
        """Forget an acknowledged batch."""
        with self._lock:
            if entry in self._entries:
                self._entries.remove(entry)
                self._bytes -= entry.size
        entry.path.unlink(missing_ok=True)

    def reject(self, entry: SpoolEntry, reason: str) -> Path:
        """Move a batch the server refused for good to ``rejected/``; return its new path."""
        with self._lock:
            if entry in self._entries:
                self._entries.remove(entry)
                self._bytes -= entry.size
        target = self.rejected_dir / entry.path.name
        with contextlib.suppress(FileNotFoundError):
            os.replace(entry.path, target)
        self._write_reason(target, reason)
        return target

    def reject_body(self, name: str, body: bytes, records: int, reason: str) -> Path:
        """Keep data that was refused before it reached ``pending/`` (e.g. invalid records)."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
        target = self.rejected_dir / f"{seq:016d}-n{records}-{name}.json"
        _atomic_write(target, body)
        self._write_reason(target, reason)
        return target

    def _write_reason(self, target: Path, reason: str) -> None:
        (target.parent / f"{target.name}.reason.txt").write_text(reason[:8192] + "\n")
        self._trim_rejected()

    def _trim_rejected(self) -> None:
        kept = sorted(p for p in self.rejected_dir.iterdir() if _NAME.match(p.name))
        for old in kept[: max(0, len(kept) - self.rejected_max_files)]:
            old.unlink(missing_ok=True)
            (old.parent / f"{old.name}.reason.txt").unlink(missing_ok=True)

    def rejected_files(self) -> list[Path]:
        """Rejected batch files, oldest first."""
        return sorted(p for p in self.rejected_dir.iterdir() if _NAME.match(p.name))

    def close(self) -> None:
        """Release the directory lock; the files stay for the next client."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            os.close(self._lock_fd)
