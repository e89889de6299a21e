"""Mozi's configuration blob: the published key vector, signatures, tags, stop orders, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmon.protocols import mozi_config as mc

KEYS = mc.new_signing_keys()
PUBLIC = (
    mc.load_public_key(mc.public_key_hex(KEYS[0])),
    mc.load_public_key(mc.public_key_hex(KEYS[1])),
)
TAGS = [("ss", "bot"), ("cpu", "mipsel"), ("hp", "88888888"), ("ver", "\x44\x42\x1f\x71")]


def test_published_xor_key_turns_ss_into_the_magic() -> None:
    # PROTOCOLS.md Appendix A: "[ss]" encrypts to 15 15 29 D2 under key 4E665A8F...
    assert mc.xor(b"[ss]") == bytes.fromhex("151529d2") == mc.MAGIC
    assert mc.XOR_KEY.hex().upper() == "4E665A8F80C8AC238DAC4706D54F6F7E"
    assert mc.xor(mc.xor(b"any text at all")) == b"any text at all"


def test_round_trip_with_valid_signatures() -> None:
    blob = mc.encode(TAGS, 7, KEYS)
    assert len(blob) == mc.BLOB_SIZE and mc.looks_like_config(blob)
    config = mc.decode(blob, PUBLIC)
    assert config.version == 7 and config.tags == tuple(TAGS)
    assert config.signatures == "valid" and config.arch == "mipsel" and not config.stop
    assert mc.decode(blob).signatures == "unchecked"
    data = config.as_data()
    assert data["tags"] == dict(TAGS) and data["version"] == 7 and len(str(data["digest"])) == 64


def test_wrong_keys_or_tampering_read_invalid() -> None:
    blob = mc.encode(TAGS, 7, KEYS)
    others = mc.new_signing_keys()
    wrong = (
        mc.load_public_key(mc.public_key_hex(others[0])),
        mc.load_public_key(mc.public_key_hex(others[1])),
    )
    assert mc.decode(blob, wrong).signatures == "invalid"
    swapped = (PUBLIC[1], PUBLIC[0])
    assert mc.decode(blob, swapped).signatures == "invalid"
    tampered = bytearray(blob)
    tampered[20] ^= 0x01  # inside the encrypted text
    assert mc.decode(bytes(tampered), PUBLIC).signatures == "invalid"
    zeroed = blob[:428] + bytes(96) + blob[524:]
    assert mc.decode(zeroed, PUBLIC).signatures == "invalid"


def test_version_is_little_endian_and_digest_names_the_blob() -> None:
    blob = mc.encode(TAGS, 0x01020304, KEYS)
    assert blob[524:528] == bytes([4, 3, 2, 1])
    assert mc.decode(blob).digest != mc.decode(mc.encode(TAGS, 0x01020305, KEYS)).digest


@pytest.mark.parametrize(
    ("tags", "stop"),
    [
        ([("ss", "bot")], False),
        ([("ss", "bot"), ("ud", "http://127.0.0.1/u")], True),
        ([("ss", "bot"), ("dr", "http://127.0.0.1/x")], True),
        ([("ss", "bot"), ("rn", "kill -9 1")], True),
        ([("ss", "bot"), ("rn", " ")], False),
    ],
)
def test_stop_order_rule(tags: list[tuple[str, str]], stop: bool) -> None:
    assert mc.decode(mc.encode(tags, 1, KEYS)).stop is stop


def test_encode_refuses_what_no_bot_would_carry() -> None:
    with pytest.raises(ValueError, match=r"\[ss\]"):
        mc.encode([("cpu", "arm")], 1, KEYS)
    with pytest.raises(ValueError, match="428"):
        mc.encode([("ss", "x" * 500)], 1, KEYS)


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (b"", "bad_length"),
        (bytes(623), "bad_length"),
        (bytes(624), "bad_magic"),
        (mc.MAGIC + bytes(620), "no_tags"),
    ],
)
def test_not_a_blob(blob: bytes, reason: str) -> None:
    with pytest.raises(mc.ConfigError) as info:
        mc.decode(blob, PUBLIC)
    assert info.value.reason == reason


def test_public_key_parsing_errors_are_one_line() -> None:
    with pytest.raises(ValueError, match="P-384"):
        mc.load_public_key("02" + "00" * 10)
    with pytest.raises(ValueError, match="P-384"):
        mc.load_public_key("not hex")


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=620, max_size=620), st.booleans())
def test_fuzz_blobs(rest: bytes, keyed: bool) -> None:
    try:
        config = mc.decode(mc.MAGIC + rest, PUBLIC if keyed else None)
    except mc.ConfigError as exc:
        assert exc.reason == "no_tags"
        return
    assert config.signatures in (("invalid",) if keyed else ("unchecked",))
    assert len(config.tags) <= mc.MAX_TAGS
    config.as_data()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=420))
def test_fuzz_plaintext_tags(text: bytes) -> None:
    plain = (b"[ss]x[/ss]" + text)[: mc.TEXT_SIZE].ljust(mc.TEXT_SIZE, b"\0")
    blob = mc.xor(plain) + bytes(96) + (5).to_bytes(4, "little") + bytes(96)
    config = mc.decode(blob, PUBLIC)
    assert config.tags[0] == ("ss", "x") and config.signatures == "invalid"
