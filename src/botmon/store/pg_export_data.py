"""How the PostgreSQL store writes ``data`` into exports, with a bound on each record's text.

jsonb keeps numbers exactly and writes them out in plain notation, so a 16 KB ``data`` of
numbers like ``1e100000`` becomes hundreds of megabytes of digits (the DuckDB store keeps the
text as sent and has no such growth). Records holding a number of extreme magnitude are
recognised in SQL, without writing them out, and exported as a marker object; any other record
whose text still comes out longer than :data:`MAX_EXPORT_DATA_CHARS` (a zero with a huge scale,
``0e-16000``, writes 16,000 digits) is replaced by a marker too. A marker is a JSON object with
the single key ``botmon_omitted`` saying why, so every export format stays valid.
"""

from __future__ import annotations

from botmon.validation import MAX_DATA_BYTES

EXTREME_EXPONENT = 64
"""Numbers of magnitude 1e64 or more, or below 1e-64 but not zero, are not written out."""

MAX_EXPORT_DATA_CHARS = 4 * MAX_DATA_BYTES
"""Longest ``data`` text one exported record carries: room for jsonb's spacing of the largest
accepted ``data``, far below what extreme numbers write out."""

OMITTED_KEY = "botmon_omitted"

EXTREME_NUMBERS_MARKER = (
    f'{{"{OMITTED_KEY}": "data holds numbers of magnitude 1e{EXTREME_EXPONENT} or more '
    f'(or below 1e-{EXTREME_EXPONENT}), too long to write out"}}'
)


def data_column() -> str:
    """The SELECT expression for ``data``: its text, or the marker when it holds extreme numbers."""
    big, small = f"1e{EXTREME_EXPONENT}", f"1e-{EXTREME_EXPONENT}"
    # Strict mode: comparing a non-number is an error, which a filter takes as false; cheaper
    # than testing each item's type. Measured: about 4-6 us per row of small data.
    path = f"strict $.** ? (@ >= {big} || @ <= -{big} || (@ < {small} && @ > -{small} && @ != 0))"
    marker = EXTREME_NUMBERS_MARKER.replace("'", "''")
    return (
        f"CASE WHEN jsonb_path_exists(t.data, '{path}') THEN '{marker}' "
        "ELSE t.data::text END AS data"
    )


def bounded(text: str | None) -> str | None:
    """``text`` itself, or a marker naming its length when it is longer than the bound."""
    if text is None or len(text) <= MAX_EXPORT_DATA_CHARS:
        return text
    return (
        f'{{"{OMITTED_KEY}": "data is {len(text)} characters as text, '
        f'over the export limit of {MAX_EXPORT_DATA_CHARS}"}}'
    )
