"""Hajime's daily rendezvous keys: which DHT info-hash each file is announced under on a day.

Hajime bots find each other only through the BitTorrent DHT, and the key they meet under
changes every UTC day (PROTOCOLS.md §3.2): the date written as ``D-M-Y-W-Z`` (day of month,
0-based month, years since 1900, weekday with Sunday 0, 0-based day of year, i.e. C's
``struct tm``), then ``-`` and the lowercase hex SHA-1 of the file name, all SHA-1'd again.
Whoever knows the file names (the config's ``[modules]``) can compute every key for any
day, which is what makes crawling and sensing possible at all.

File names per architecture follow the config (S8): ``config`` (the same on every bot),
``atk.<arch>.<unix-ts>`` (attack module) and ``.i.<arch>.<unix-ts>`` (stage-2 update).
The timestamps are whatever the botmaster's build carried; the defaults are those of the
published key table (Appendix A), which botmon's tests check against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

ARCHITECTURES = ("arm5", "arm6", "arm7", "armv4l", "armv6l", "mipseb", "mipsel")
"""The CPU architectures Hajime builds were seen for (PROTOCOLS.md §3.2)."""
ATK_TIMESTAMP = 1506215619
""":func:`file_names`' default timestamp of ``atk.<arch>.<ts>`` (the published table's)."""
I_TIMESTAMP = 1506551478
""":func:`file_names`' default timestamp of ``.i.<arch>.<ts>`` (the published table's)."""
CONFIG = "config"
MAX_NAME = 31
"""Longest file name: the payload header's name field is 32 bytes with its NUL."""
DAY_S = 86_400


class Key(NamedTuple):
    """One day's info-hash of one file, and what it tells about whoever is found under it."""

    info_hash: bytes
    file: str
    arch: str | None
    """The architecture the file is built for (None for ``config``, which every bot has)."""
    day: str
    """The UTC date, ``YYYY-MM-DD``."""


def date_text(day: dt.date) -> str:
    """``D-M-Y-W-Z`` of ``day`` as Hajime writes it (C ``struct tm`` fields)."""
    weekday = (day.weekday() + 1) % 7  # Python: Monday 0; struct tm: Sunday 0
    yday = day.timetuple().tm_yday - 1
    return f"{day.day}-{day.month - 1}-{day.year - 1900}-{weekday}-{yday}"


def info_hash(file: str, day: dt.date) -> bytes:
    """The 20-byte info-hash of ``file`` on the UTC date ``day``."""
    name_hex = hashlib.sha1(file.encode("latin-1"), usedforsecurity=False).hexdigest()
    text = f"{date_text(day)}-{name_hex}"
    return hashlib.sha1(text.encode("ascii"), usedforsecurity=False).digest()


def utc_day(now: float) -> dt.date:
    """The UTC date of the epoch time ``now``."""
    return dt.datetime.fromtimestamp(now, dt.UTC).date()


def arch_of(file: str) -> str | None:
    """The architecture a file name is built for (``atk.mipseb.1506215619`` -> ``mipseb``),
    or None (``config``, a name of another shape)."""
    if file.startswith("atk."):
        parts = file[4:].split(".")
    elif file.startswith(".i."):
        parts = file[3:].split(".")
    else:
        return None
    return parts[0] if len(parts) == 2 and parts[0] else None


def file_names(
    archs: Sequence[str] = ARCHITECTURES,
    atk_ts: int = ATK_TIMESTAMP,
    i_ts: int = I_TIMESTAMP,
    extra: Iterable[str] = (),
) -> tuple[str, ...]:
    """``config``, then ``atk.<arch>.<ts>`` and ``.i.<arch>.<ts>`` per architecture, then
    ``extra``; no duplicates, in that order."""
    names = [CONFIG]
    for arch in archs:
        names += [f"atk.{arch}.{atk_ts}", f".i.{arch}.{i_ts}"]
    names += list(extra)
    return tuple(dict.fromkeys(names))


def files_of(arch: str, atk_ts: int = ATK_TIMESTAMP, i_ts: int = I_TIMESTAMP) -> tuple[str, ...]:
    """The files a bot of ``arch`` holds (and announces): config and its own two modules."""
    return (CONFIG, f"atk.{arch}.{atk_ts}", f".i.{arch}.{i_ts}")


def day_keys(files: Sequence[str], day: dt.date) -> tuple[Key, ...]:
    """Every file's key on ``day``, in the order of ``files``."""
    text = day.isoformat()
    return tuple(Key(info_hash(f, day), f, arch_of(f), text) for f in files)


def serves(own_files: Sequence[str], wanted: str) -> str | None:
    """Which of ``own_files`` a request for ``wanted`` gets: the exact name, or for a
    prefix ``atk.<arch>.`` / ``.i.<arch>.`` the module of that kind (bots serve a module
    whatever timestamp is asked, PROTOCOLS.md §3.4); None: not served."""
    if wanted in own_files:
        return wanted
    if wanted.endswith("."):
        return next((f for f in own_files if f.startswith(wanted)), None)
    stem = wanted.rsplit(".", 1)[0] + "."
    if arch_of(wanted) is not None:
        return next((f for f in own_files if f.startswith(stem)), None)
    return None
