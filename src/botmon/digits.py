"""Decimal numbers in untrusted text.

``str.isdigit`` is true for "¹", "²" and other Unicode digits that ``int`` refuses (or reads as a
number a user never typed), so a caller that checks ``isdigit`` before ``int`` can still crash on
hostile input. Every place botmon reads a number from a path, header or file asks here instead.
"""

from __future__ import annotations


def is_ascii_number(text: str) -> bool:
    """True for a non-empty run of ASCII digits 0-9 and nothing else."""
    return text.isascii() and text.isdigit()
