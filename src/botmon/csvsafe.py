"""Neutralise CSV cells a spreadsheet would run as formulas (CSV injection).

Bots choose what lands in ``data``, ``bot_id`` and failure reasons, and a monitor's users open
exports in spreadsheets, which run a cell starting with ``=``, ``+``, ``-`` or ``@`` (and, in
some, after a leading tab or carriage return) as a formula. As OWASP recommends, such a text
cell is prefixed with a single quote, which spreadsheets show as text. Numbers are left alone:
a numeric cell, or a text cell that is nothing but a plain decimal number such as ``-12.5``,
cannot run anything, and quoting it would turn counts into text.

Record exports (:mod:`botmon.transfer`) apply the same rule column-wise and also escape cells
that already start with the escape, so an import can undo it exactly (:func:`formula_pattern`).
"""

from __future__ import annotations

import re

FORMULA_STARTS = "=+-@\t\r"
"""First characters that make a spreadsheet run a CSV cell as a formula (CSV injection)."""
FORMULA_ESCAPE = "'"
"""Prefixed to such cells in CSV exports, so spreadsheets show the text; imports drop it."""


def formula_pattern() -> str:
    """A regular expression matching the cells a CSV export prefixes with :data:`FORMULA_ESCAPE`:
    a formula start, after any number of escapes (so that escaping can be undone exactly)."""
    starts = "".join("\\" + c if c in "-\\]^" else c for c in FORMULA_STARTS)
    return f"^{FORMULA_ESCAPE}*[{starts}]"


_FORMULA_FIRST = frozenset(FORMULA_STARTS)
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell a spreadsheet shows as is: risky text gets a leading ``'``."""
    if not isinstance(value, str) or not value or value[0] not in _FORMULA_FIRST:
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value
