"""Sorted address-range tables: the compact form of range data that ships as CSV, not ``.mmdb``.

The default AS data comes as CSV ranges only. Converting its ~515,000 ranges to ``.mmdb`` with
mmdb-writer took 53 s and 470 MB for the IPv4 half alone (DATA.md), while parsing the CSV into
sorted arrays takes about a second and a ``bisect`` answers a lookup in well under a
microsecond. So install time writes a :class:`RangeTable` file and run time loads it with
``array.frombytes`` (no parsing). The same table, built from the country database at install
time, lets :mod:`botmon.enrich.sampling` draw addresses of a country without walking the
``.mmdb`` tree (which takes seconds).

File layout (all counts little-endian ``u32``)::

    b"BMRT1\\n" | header length | msgpack header {values, n4, n6, meta}
    | v4 starts | v4 ends | v4 value index            (n4 x u32 each)
    | v6 starts | v6 ends                             (n6 x 16 bytes, big-endian)
    | v6 value index                                  (n6 x u32)

IPv4 ranges use plain 32-bit addresses; IPv6 ranges use 128-bit integers. ``values`` is the
list of distinct payloads (a country code, or ``[asn, name]``) that the index arrays point to.
"""

from __future__ import annotations

import csv
import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from botmon.digits import is_ascii_number
from botmon.ipaddr import V4_MAPPED_PREFIX, ip_to_int, is_v4

MAGIC = b"BMRT1\n"
_U32 = "I"
_MAX_HEADER = 64 * 1024 * 1024
_V6_LIMIT = 1 << 128

if array(_U32).itemsize != 4:  # pragma: no cover - every platform botmon targets has 4
    raise ImportError("botmon.enrich.ranges needs a 4-byte array('I')")


class RangeTableError(ValueError):
    """A range file or CSV that cannot be read: a clear message, never a crash later."""


class _Header(msgspec.Struct):
    values: list[Any]
    n4: int
    n6: int
    meta: dict[str, Any] = {}


def _u32(values: Iterable[int]) -> array[int]:
    return array(_U32, values)


def _le(a: array[int]) -> bytes:
    if sys.byteorder == "big":  # pragma: no cover - little-endian hosts only here
        a = array(_U32, a)
        a.byteswap()
    return a.tobytes()


def _from_le(data: bytes | memoryview) -> array[int]:
    a = array(_U32)
    a.frombytes(data)
    if sys.byteorder == "big":  # pragma: no cover
        a.byteswap()
    return a


class RangeTable:
    """Non-overlapping inclusive address ranges, each carrying one value; lookups by bisect.

    Addresses are botmon's 128-bit integers (:mod:`botmon.ipaddr`); IPv4 ones are kept in a
    separate 32-bit table so the common case bisects a compact ``array``.
    """

    __slots__ = ("_e4", "_e6", "_s4", "_s6", "_v4", "_v6", "meta", "values")

    def __init__(
        self,
        values: list[Any],
        v4: tuple[array[int], array[int], array[int]],
        v6: tuple[Sequence[int], Sequence[int], array[int]],
        meta: dict[str, Any] | None = None,
    ) -> None:
        # Tuples, not lists: tuples of atomic values drop out of the garbage collector's
        # view, so hundreds of thousands of ranges add nothing to every full collection.
        self.values: tuple[Any, ...] = tuple(tuple(v) if isinstance(v, list) else v for v in values)
        self._s4, self._e4, self._v4 = v4
        self._s6, self._e6, self._v6 = tuple(v6[0]), tuple(v6[1]), v6[2]
        self.meta = dict(meta or {})

    # -- queries ---------------------------------------------------------------------------
    def index(self, ip: int) -> int | None:
        """The position in :attr:`values` of the value for ``ip``, else None."""
        if ip >> 32 == 0xFFFF:  # IPv4-mapped, as botmon.ipaddr.is_v4 (inlined: hot path)
            a = ip & 0xFFFF_FFFF
            i = bisect_right(self._s4, a) - 1
            if i >= 0 and a <= self._e4[i]:
                return self._v4[i]
            return None
        i = bisect_right(self._s6, ip) - 1
        if i >= 0 and ip <= self._e6[i]:
            return self._v6[i]
        return None

    def get(self, ip: int) -> Any:
        """The value of the range holding ``ip`` (a botmon 128-bit integer), else None."""
        i = self.index(ip)
        return None if i is None else self.values[i]

    def __len__(self) -> int:
        return len(self._s4) + len(self._s6)

    def ranges(self) -> Iterator[tuple[int, int, Any]]:
        """Every range as (first, last, value) in botmon's 128-bit form, IPv4 first."""
        for s, e, v in zip(self._s4, self._e4, self._v4, strict=True):
            yield V4_MAPPED_PREFIX | s, V4_MAPPED_PREFIX | e, self.values[v]
        for s6, e6, v in zip(self._s6, self._e6, self._v6, strict=True):
            yield s6, e6, self.values[v]

    def v4_ranges(self) -> Iterator[tuple[int, int, Any]]:
        """IPv4 ranges as (first, last, value) with plain 32-bit addresses."""
        for s, e, v in zip(self._s4, self._e4, self._v4, strict=True):
            yield s, e, self.values[v]

    # -- building --------------------------------------------------------------------------
    @classmethod
    def build(
        cls, rows: Iterable[tuple[int, int, Any]], meta: dict[str, Any] | None = None
    ) -> tuple[RangeTable, int]:
        """A table from (first, last, value) rows in botmon's 128-bit form, in any order.

        Values must be hashable once turned into tuples (str, int, lists of those). Rows that
        overlap an earlier range are dropped (the first one wins, as in the sources' merge
        rule) and counted; returns (table, dropped).
        """
        keyed: dict[Any, int] = {}
        values: list[Any] = []
        v4: list[tuple[int, int, int]] = []
        v6: list[tuple[int, int, int]] = []
        for first, last, value in rows:
            if not 0 <= first <= last < _V6_LIMIT:
                raise RangeTableError(f"bad range {first}..{last}")
            key = tuple(value) if isinstance(value, list) else value
            idx = keyed.get(key)
            if idx is None:
                idx = keyed[key] = len(values)
                values.append(value)
            if is_v4(first) and is_v4(last):
                v4.append((first & 0xFFFF_FFFF, last & 0xFFFF_FFFF, idx))
            elif is_v4(first) or is_v4(last):
                raise RangeTableError(f"range {first}..{last} mixes IPv4 and IPv6")
            else:
                v6.append((first, last, idx))
        dropped = 0
        out: list[list[tuple[int, int, int]]] = []
        for part in (v4, v6):
            part.sort()
            kept: list[tuple[int, int, int]] = []
            for row in part:
                if kept and row[0] <= kept[-1][1]:
                    dropped += 1
                    continue
                kept.append(row)
            out.append(kept)
        k4, k6 = out
        table = cls(
            values,
            (_u32(r[0] for r in k4), _u32(r[1] for r in k4), _u32(r[2] for r in k4)),
            ([r[0] for r in k6], [r[1] for r in k6], _u32(r[2] for r in k6)),
            meta,
        )
        return table, dropped

    # -- files -----------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The file form described in the module docstring."""
        header = msgspec.msgpack.encode(
            _Header(list(self.values), len(self._s4), len(self._s6), self.meta)
        )
        parts = [MAGIC, len(header).to_bytes(4, "little"), header]
        parts += [_le(self._s4), _le(self._e4), _le(self._v4)]
        parts.append(b"".join(x.to_bytes(16, "big") for x in self._s6))
        parts.append(b"".join(x.to_bytes(16, "big") for x in self._e6))
        parts.append(_le(self._v6))
        return b"".join(parts)

    def save(self, path: Path) -> None:
        """Write the table atomically (a reader never sees half a file)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)

    @classmethod
    def from_bytes(cls, data: bytes) -> RangeTable:
        """Read a table; :class:`RangeTableError` for anything that is not a whole, valid one."""
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
            raise RangeTableError("not a botmon range table (bad magic)")
        pos = len(MAGIC)
        hlen = int.from_bytes(data[pos : pos + 4], "little")
        pos += 4
        if hlen > _MAX_HEADER or pos + hlen > len(data):
            raise RangeTableError("range table header is truncated")
        try:
            header = msgspec.msgpack.decode(data[pos : pos + hlen], type=_Header)
        except msgspec.DecodeError as exc:
            raise RangeTableError(f"range table header is invalid: {exc}") from None
        pos += hlen
        n4, n6 = header.n4, header.n6
        if n4 < 0 or n6 < 0 or len(data) - pos != 12 * n4 + 36 * n6:
            raise RangeTableError("range table body has the wrong size (truncated file?)")
        view = memoryview(data)

        def take(size: int) -> memoryview:
            nonlocal pos
            chunk = view[pos : pos + size]
            pos += size
            return chunk

        s4, e4, i4 = (_from_le(take(4 * n4)) for _ in range(3))
        raw_s6, raw_e6 = take(16 * n6), take(16 * n6)
        i6 = _from_le(take(4 * n6))
        s6 = [int.from_bytes(raw_s6[k : k + 16], "big") for k in range(0, 16 * n6, 16)]
        e6 = [int.from_bytes(raw_e6[k : k + 16], "big") for k in range(0, 16 * n6, 16)]
        nvalues = len(header.values)
        if (i4 and max(i4) >= nvalues) or (i6 and max(i6) >= nvalues):
            raise RangeTableError("range table points past its value list")
        return cls(header.values, (s4, e4, i4), (s6, e6, i6), header.meta)

    @classmethod
    def load(cls, path: Path) -> RangeTable:
        """Read a table file; :class:`RangeTableError` (a ValueError) when it is unusable."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RangeTableError(f"cannot read range table {path}: {exc.strerror}") from None
        return cls.from_bytes(data)


def read_csv_ranges(path: Path) -> Iterator[tuple[int, int, list[Any]]]:
    """Rows of an ip-location-db style CSV: ``first,last,value...`` with text addresses.

    ``first`` and ``last`` are IPv4 or IPv6 text (the ``-num`` files are not supported: their
    IPv4 numbers cannot be told from IPv6 ones). Yields (first, last, [value, ...]) with an
    all-digit value turned into an int, so AS rows become ``[asn, name]``.
    """
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise RangeTableError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        for lineno, row in enumerate(csv.reader(handle), 1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 3:
                raise RangeTableError(f"{path}:{lineno}: expected first,last,value")
            try:
                first, last = ip_to_int(row[0].strip()), ip_to_int(row[1].strip())
            except ValueError as exc:
                raise RangeTableError(f"{path}:{lineno}: {exc}") from None
            if first > last:
                raise RangeTableError(f"{path}:{lineno}: range ends before it starts")
            values: list[Any] = [int(v) if is_ascii_number(v) else v for v in row[2:]]
            yield first, last, values
