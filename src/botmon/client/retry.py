"""What to do after an attempt to deliver something to the server: plain functions, no I/O.

The sender asks :func:`classify` what an HTTP status means and :func:`backoff_delay` how long
to wait, so the policy is tested without a network or a clock.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from botmon.digits import is_ascii_number


class Outcome(enum.Enum):
    """How a delivery attempt ended, from the client's point of view."""

    ACK = "ack"
    """Stored (or already stored: a duplicate); the batch may leave the spool."""
    RETRY = "retry"
    """Transient: connection error, timeout, 5xx, 408; try again after a back-off."""
    THROTTLED = "throttled"
    """429: try again, no sooner than the server's Retry-After."""
    AUTH = "auth"
    """401/403: the token is not good for this; no batch can succeed, stop sending."""
    REJECTED = "rejected"
    """Any other 4xx: this batch will never be accepted; set it aside for inspection."""


def classify(status: int) -> Outcome:
    """The outcome of an HTTP answer with this status code."""
    if 200 <= status < 300:
        return Outcome.ACK
    if status == 429:
        return Outcome.THROTTLED
    if status in (401, 403):
        return Outcome.AUTH
    if status == 408 or status >= 500 or status < 200:
        return Outcome.RETRY
    if 400 <= status < 500:
        return Outcome.REJECTED
    # 3xx: the client follows no redirects (a redirect of a POST is a misconfiguration).
    return Outcome.REJECTED


def counts_against_batch(status: int, retry_after: str | None) -> bool:
    """Whether a failed answer counts towards setting the batch aside.

    A 5xx answer means the server is up and failed on this batch, which may be the batch's
    fault; it counts. What says "not now" never counts, so an outage cannot make the client
    give up on good batches: no answer at all (connection failures), 502 and 504 (a proxy
    that cannot reach the server), 408, 429, and any answer carrying ``Retry-After`` (the
    server knows it is unavailable, e.g. its database is away).
    """
    if retry_after is not None or status in (408, 429, 502, 504):
        return False
    return status >= 500


def backoff_delay(
    attempt: int, base_s: float, max_s: float, rand: Callable[[], float] = random.random
) -> float:
    """Delay before retry number ``attempt`` (1 for the first retry).

    Exponential with "equal jitter": half the exponential step is fixed, half is random, so
    delays grow reliably while many clients that failed together do not retry in lockstep.
    """
    step = min(max_s, base_s * 2.0 ** min(max(attempt - 1, 0), 60))
    return step / 2 + rand() * step / 2


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date), if valid."""
    if value is None:
        return None
    text = value.strip()
    if is_ascii_number(text):
        return float(int(text[:9]))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
