"""What every view answers: a table of named columns and plain Python values.

The read API turns a table into JSON or CSV and the dashboard draws it, so a chart, its table
and its CSV download can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """Rows with named columns."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as objects keyed by column name (the JSON form)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class UnknownBotnet(LookupError):
    """A view named a botnet the store does not have."""
