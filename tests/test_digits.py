"""Numbers in untrusted text: Unicode digits that ``str.isdigit`` accepts are refused cleanly."""

from __future__ import annotations

import pytest

from botmon.client.retry import parse_retry_after
from botmon.digits import is_ascii_number
from botmon.wire import parse_address

UNICODE_DIGITS = ["¹", "²³", "١٢", "๕", "𝟗", "1¹"]


@pytest.mark.parametrize("text", ["0", "7", "65535", "0012"])
def test_ascii_digits_are_numbers(text: str) -> None:
    assert is_ascii_number(text)
    assert int(text) >= 0


@pytest.mark.parametrize("text", ["", " 1", "1 ", "-1", "+1", "1.0", "x", *UNICODE_DIGITS])
def test_anything_else_is_not(text: str) -> None:
    assert not is_ascii_number(text)


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_address_with_unicode_port_is_a_clean_error(text: str) -> None:
    with pytest.raises(ValueError, match="bad port"):
        parse_address(f"127.0.0.1:{text}")


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_retry_after_with_unicode_digits_is_ignored(text: str) -> None:
    assert parse_retry_after(text, now=0.0) is None
    assert parse_retry_after("12", now=0.0) == 12.0
