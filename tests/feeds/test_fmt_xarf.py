"""format=xarf: the mbox of the store's feed rows parses with the stdlib ``mailbox`` and
``email`` packages into one X-ARF mail per bot whose YAML report meets the bot-infection
0.2.0 schema (a fixture of our own, written from the published schema's keys and types)."""

from __future__ import annotations

import email
import email.policy
import mailbox
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
import yaml

from botmon.feeds.fmt_xarf import FORMAT, SCHEMA_URL
from botmon.feeds.formats import feed_format
from botmon.feeds.model import FeedFormat, FeedRow
from botmon.store.base import Store
from tests.feeds.fmt_data import HOSTILE, context, hostile_ingest, hostile_row, ingest, store_rows

REQUIRED = (
    "Reported-From",
    "Report-ID",
    "User-Agent",
    "Category",
    "Report-Type",
    "Date",
    "Source",
    "Source-Type",
    "Attachment",
    "Schema-URL",
)
"""The keys the bot-infection 0.2.0 schema does not mark optional."""

BOT_INFECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{key: {"type": "string", "required": True} for key in REQUIRED},
        "Reported-From": {"type": "string", "format": "email", "required": True},
        "Report-ID": {"type": "string", "format": "email", "required": True},
        "Category": {"type": "string", "enum": ["abuse"], "required": True},
        "Report-Type": {"type": "string", "enum": ["bot-infection"], "required": True},
        "Date": {"type": "string", "format": "date-time", "required": True},
        "Source-Type": {"type": "string", "enum": ["ipv4", "ipv6", "ip-address"], "required": True},
        "Attachment": {"type": "string", "enum": ["none", "text/plain"], "required": True},
        "Schema-URL": {"type": "string", "format": "uri", "required": True},
        "Source-Port": {"type": "integer"},
        "Source-ASN": {"type": "integer"},
        "Transport-Protocol": {"type": "string"},
        "Malware-Name": {"type": "string"},
        "Classification-Taxonomy": {"type": "string"},
        "Classification-Type": {"type": "string"},
        "Classification-Identifier": {"type": "string"},
        "Version": {"type": "number"},
        "Occurrences": {"type": "integer"},
        "TLP": {"type": "string", "enum": ["white", "green", "amber", "red"]},
    },
}
"""JSON Schema draft 3 (the schema's own draft: properties are required unless optional)."""


@pytest.fixture
def rows(store: Store) -> list[FeedRow]:
    ingest(store)
    got = store_rows(store)
    assert len(got) == 7
    return got


def mails(raw: bytes, tmp_path: Path) -> list[EmailMessage]:
    """The mbox's messages as an abuse desk's mail reader sees them."""
    path = tmp_path / "feed.mbox"
    path.write_bytes(raw)
    box = mailbox.mbox(str(path), create=False)
    try:
        return [
            email.message_from_bytes(m.as_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for m in box
        ]
    finally:
        box.close()


def parts(msg: EmailMessage) -> tuple[str, dict[str, Any], str]:
    human, report, evidence = msg.iter_parts()
    assert isinstance(human, EmailMessage) and isinstance(report, EmailMessage)
    assert isinstance(evidence, EmailMessage)
    assert report.get_param("name") == "report.txt"
    assert evidence.get_param("name") == "evidence.txt"
    return human.get_content(), yaml.safe_load(report.get_content()), evidence.get_content()


def check_schema(report: dict[str, Any]) -> None:
    checker = jsonschema.Draft3Validator.FORMAT_CHECKER
    jsonschema.Draft3Validator(BOT_INFECTION_SCHEMA, format_checker=checker).validate(report)


def test_the_registry_names_this_format() -> None:
    fmt: FeedFormat = feed_format("xarf")
    assert fmt is FORMAT and fmt.media_type == "application/mbox"


def test_one_xarf_mail_per_bot(rows: list[FeedRow], tmp_path: Path) -> None:
    raw = b"".join(FORMAT.write(iter(rows), context()))
    messages = mails(raw, tmp_path)
    assert len(messages) == len(rows)
    for row, msg in zip(rows, messages, strict=True):
        assert msg["X-XARF"] == "PLAIN" and msg["Auto-Submitted"] == "auto-generated"
        assert msg.get_content_type() == "multipart/mixed"
        assert row.ip in msg["Subject"] and row.botnet in msg["Subject"]
        assert msg["From"].addresses[0].addr_spec == "abuse@cert.example"
        human, report, evidence = parts(msg)
        check_schema(report)
        assert all(key in report for key in REQUIRED)
        assert report["Source"] == row.ip
        assert report["Source-Type"] == ("ipv6" if ":" in row.ip else "ipv4")
        assert report["Source-Port"] == min(row.ports)
        assert report["Source-ASN"] == row.asn
        assert report["Malware-Name"] == row.botnet
        assert report["Transport-Protocol"] == "udp"  # Hide'n'Seek and Mozi speak UDP
        assert report["Occurrences"] == row.observations
        assert report["TLP"] == "amber" and report["Schema-URL"] == SCHEMA_URL
        assert report["Report-ID"].endswith("@cert.example")
        assert msg["Message-ID"] == f"<{report['Report-ID']}>"
        assert row.ip in human and f"Confidence:    {row.confidence}" in human
        assert all(str(p) in human for p in row.ports)
        body = evidence.split("\n", 1)[1]
        assert msgspec.json.decode(body, type=FeedRow) == row


def test_report_ids_repeat_on_a_refetch(rows: list[FeedRow], tmp_path: Path) -> None:
    def ids(**ctx: Any) -> list[str]:
        raw = b"".join(FORMAT.write(iter(rows), context(**ctx)))
        return [parts(m)[1]["Report-ID"] for m in mails(raw, tmp_path)]

    first = ids()
    assert len(set(first)) == len(rows)
    assert ids(generated_at=context().generated_at + 3600) == first


@pytest.mark.parametrize(("tlp", "colour"), [("clear", "white"), ("amber+strict", "amber")])
def test_tlp_two_labels_become_the_schemas_colours(tlp: str, colour: str, tmp_path: Path) -> None:
    raw = b"".join(FORMAT.write(iter([hostile_row()]), context(tlp=tlp)))
    (msg,) = mails(raw, tmp_path)
    human, report, _ = parts(msg)
    assert report["TLP"] == colour
    assert f"TLP:{tlp.upper()}" in human


def test_an_empty_feed_is_an_empty_mbox(tmp_path: Path) -> None:
    raw = b"".join(FORMAT.write(iter([]), context()))
    assert raw == b"" and mails(raw, tmp_path) == []


def test_hostile_text_cannot_forge_mails_headers_or_keys(store: Store, tmp_path: Path) -> None:
    hostile_ingest(store)
    rows = [*store_rows(store), hostile_row()]
    raw = b"".join(FORMAT.write(iter(rows), context(producer=HOSTILE, contact="a@b.example")))
    messages = mails(raw, tmp_path)
    assert len(messages) == 2  # no forged "From " separator
    flat = "q\"uote's new line  </script><b>&amp; ünïcödé 中文"
    for row, msg in zip(rows, messages, strict=True):
        assert set(msg.keys()) == {
            "From",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "X-XARF",
            "MIME-Version",
            "Content-Type",
        }
        assert "\n" not in msg["Subject"] and "\n" not in str(msg["From"])
        assert msg["From"].addresses[0].addr_spec == "a@b.example"
        human, report, evidence = parts(msg)
        check_schema(report)
        assert set(report) <= set(BOT_INFECTION_SCHEMA["properties"])
        assert report["Source"] == row.ip
        assert flat in human
        assert msgspec.json.decode(evidence.split("\n", 1)[1], type=FeedRow) == row
    assert parts(messages[1])[1]["Malware-Name"].startswith(flat)


@pytest.mark.parametrize("contact", [None, "not an address", "a@b\nBcc: x@y.example", "<a@b>"])
def test_without_a_usable_contact_the_reports_name_botmon_at_localhost(
    contact: str | None, tmp_path: Path
) -> None:
    raw = b"".join(FORMAT.write(iter([hostile_row()]), context(contact=contact)))
    (msg,) = mails(raw, tmp_path)
    report = parts(msg)[1]
    check_schema(report)
    assert report["Reported-From"] == "botmon@localhost" == msg["From"].addresses[0].addr_spec
    assert "Bcc" not in msg


def test_the_schema_endpoint_lists_every_report_key(rows: list[FeedRow], tmp_path: Path) -> None:
    raw = b"".join(FORMAT.write(iter(rows), context()))
    keys = {key for msg in mails(raw, tmp_path) for key in parts(msg)[1]}
    assert keys == {f.name for f in FORMAT.fields}
