"""The retry policy as plain functions: the deadline of a try and whether another one follows.

Deadlines are counted from the first send of a request, like the original BaseCrawler
(4, 8, 16, 32 s by default): with four tries the request is sent at 0, 4, 8 and 16 s and
given up at 32 s. Discovery peers get one try, so a dead address costs one deadline.
"""

from __future__ import annotations


def tries_for(tracked: bool, timeouts: tuple[float, ...]) -> int:
    """Tracked bots get one try per deadline; new and unresponsive peers get one."""
    return len(timeouts) if tracked else 1


def next_attempt(attempt: int, tries: int) -> int | None:
    """The try after ``attempt``, or None when that was the last."""
    return attempt + 1 if attempt + 1 < tries else None
