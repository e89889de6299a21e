"""CSV cells a spreadsheet would run as formulas are shown as text; numbers stay numbers."""

from __future__ import annotations

import pytest

from botmon.csvsafe import safe_cell


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://x")',
        "+1+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
        "-",
        "-1e5x",
    ],
)
def test_formula_text_is_quoted(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(
    "value", [-5, -1.5, 0, 12, None, True, "", "bot-1", "a=b", "-12.5", "-3", "-1e5"]
)
def test_numbers_and_plain_text_are_unchanged(value: object) -> None:
    assert safe_cell(value) == value
