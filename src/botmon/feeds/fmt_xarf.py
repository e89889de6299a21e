"""The feed as X-ARF ``bot-infection`` reports: an mbox with one abuse mail per bot.

An abuse desk's tools (AbuseIO, IntelMQ's mail collectors, a plain mail client) read each
message as X-ARF 0.2 (header ``X-XARF: PLAIN``) with three MIME parts:

1. ``text/plain``: what happened, for a person;
2. ``text/plain; name="report.txt"``: the machine-readable report, YAML with the keys of the
   ``abuse_bot-infection_0.2.0`` schema (:data:`SCHEMA_URL`; required: Reported-From,
   Report-ID, User-Agent, Category, Report-Type, Date, Source, Source-Type, Attachment,
   Schema-URL; botmon adds Source-Port, Source-ASN, Transport-Protocol, Malware-Name, the
   IntelMQ classification, Occurrences, TLP and Version). That schema has ``Source-Port`` where the
   login-attack schema has ``Service``/``Port``; a bot with several ports reports its lowest
   there and lists all in parts 1 and 3;
3. ``text/plain; name="evidence.txt"``: the feed row botmon's store returned, as JSON.

The messages have no ``To``: whoever sends them (the network owner's or CERT's mail tooling)
addresses them. Free text in headers and YAML is flattened to one line (a newline in a
hostile botnet or AS name cannot forge a header, a YAML key or an mbox ``From`` line), and
``From`` lines in bodies are escaped as mbox requires. One message at a time is built, so
memory holds one bot however long the feed.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.utils import format_datetime, formataddr
from typing import Any

import msgspec
import yaml

from botmon import __version__
from botmon.feeds.common import iso_utc, transport
from botmon.feeds.fmt_shared import (
    TLP1,
    chunked_bytes,
    contact_domain,
    contact_of,
    derived_uuid,
    html_safe_json,
    ip_version,
    one_line,
    ports_text,
    utc,
)
from botmon.feeds.model import FeedContext, FeedField, FeedRow

SCHEMA_URL = (
    "https://raw.githubusercontent.com/Intevation/xarf-schemata/master/"
    "abuse_bot-infection_0.2.0_unstable.json"
)
"""The published X-ARF bot-infection schema (0.2.0) IntelMQ's mail generator also names."""

XARF_VERSION = 0.2
USER_AGENT = f"botmon {__version__}"

UTF8_QP = Charset("utf-8")
UTF8_QP.header_encoding = QP
UTF8_QP.body_encoding = QP
"""UTF-8 as quoted-printable, in headers and bodies: readable in a raw mbox, safe in 7 bits."""

YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's safe dumper when PyYAML was built with it (five times faster), else the pure
Python one; both write the same YAML for these flat reports."""


FIELDS: tuple[FeedField, ...] = (
    FeedField(name="Reported-From", type="string", meaning="The contact address (e-mail)"),
    FeedField(name="Category", type="string", meaning="Always 'abuse'"),
    FeedField(name="Report-Type", type="string", meaning="Always 'bot-infection'"),
    FeedField(
        name="Report-ID",
        type="string",
        meaning="<uuid>@<contact domain>, stable per bot and first sighting; the Message-ID",
    ),
    FeedField(name="User-Agent", type="string", meaning="botmon and its version"),
    FeedField(name="Date", type="string", meaning="Last sighting, RFC 3339 UTC"),
    FeedField(name="Source", type="string", meaning="The bot's IP address"),
    FeedField(name="Source-Type", type="string", meaning="ipv4 or ipv6"),
    FeedField(
        name="Source-Port",
        type="integer",
        meaning="The lowest port the bot was seen on (all ports are in the text and evidence)",
    ),
    FeedField(
        name="Source-ASN", type="integer", meaning="The AS of the address", presence="sometimes"
    ),
    FeedField(
        name="Transport-Protocol",
        type="string",
        meaning="udp or tcp (the botnet protocol's transport)",
        presence="sometimes",
    ),
    FeedField(name="Malware-Name", type="string", meaning="The botnet (malware family)"),
    FeedField(name="Classification-Taxonomy", type="string", meaning="'malicious-code'"),
    FeedField(name="Classification-Type", type="string", meaning="'infected-system'"),
    FeedField(name="Classification-Identifier", type="string", meaning="The botnet"),
    FeedField(name="Occurrences", type="integer", meaning="Observations in the period"),
    FeedField(
        name="TLP",
        type="string",
        meaning="white, green, amber or red (clear is white, amber+strict is amber)",
    ),
    FeedField(name="Version", type="number", meaning="The X-ARF version, 0.2"),
    FeedField(name="Attachment", type="string", meaning="'text/plain': the evidence part"),
    FeedField(name="Schema-URL", type="string", meaning="The bot-infection 0.2.0 schema's URL"),
)
"""The keys of each mail's YAML report (part 2), for the schema endpoint."""


def report_fields(row: FeedRow, context: FeedContext) -> dict[str, Any]:
    """The machine-readable X-ARF report of one bot, in the schema's key order."""
    fields: dict[str, Any] = {
        "Reported-From": contact_of(context),
        "Category": "abuse",
        "Report-Type": "bot-infection",
        "Report-ID": f"{report_uuid(row)}@{contact_domain(context)}",
        "User-Agent": USER_AGENT,
        "Date": iso_utc(max(row.first_seen, row.last_seen)),
        "Source": row.ip,
        "Source-Type": f"ipv{ip_version(row.ip)}",
    }
    if row.ports:
        fields["Source-Port"] = min(row.ports)
    if row.asn is not None:
        fields["Source-ASN"] = row.asn
    proto = transport(row.botnet)
    if proto:
        fields["Transport-Protocol"] = proto
    malware = one_line(row.botnet, 64)
    fields.update(
        {
            "Malware-Name": malware,
            "Classification-Taxonomy": "malicious-code",
            "Classification-Type": "infected-system",
            "Classification-Identifier": malware,
            "Occurrences": row.observations,
            "TLP": TLP1[context.tlp],
            "Version": XARF_VERSION,
            "Attachment": "text/plain",
            "Schema-URL": SCHEMA_URL,
        }
    )
    return fields


def report_uuid(row: FeedRow) -> str:
    """The same bot with the same first sighting is the same report (a re-fetch repeats it,
    and an abuse desk can drop the duplicate by Report-ID)."""
    return str(derived_uuid("xarf-report", row.botnet, row.ip, str(int(row.first_seen))))


def human_text(row: FeedRow, context: FeedContext) -> str:
    """Part 1: what botmon saw, for the person who reads the abuse mailbox."""
    botnet = one_line(row.botnet, 64)
    network = []
    if row.asn is not None:
        network.append(f"AS{row.asn}" + (f" ({one_line(row.as_name)})" if row.as_name else ""))
    if row.country:
        network.append(f"country {one_line(row.country, 8)}")
    lines = [
        "Hello,",
        "",
        f"the host {row.ip} in your network takes part in the peer-to-peer",
        f"botnet {botnet}: it answered that botnet's protocol to botmon, a monitor",
        "of P2P botnets, so it runs the bot and is very likely infected.",
        "",
        f"  Botnet:        {botnet}",
        f"  Address:       {row.ip}",
        f"  Ports:         {ports_text(row.ports)}",
        f"  First seen:    {iso_utc(row.first_seen)}",
        f"  Last seen:     {iso_utc(row.last_seen)}",
        f"  Observations:  {row.observations} on {row.days} day(s) "
        f"by {row.vantage_points} vantage point(s)",
        f"  Origin:        {', '.join(row.origins) or 'unknown'}",
        f"  Confidence:    {row.confidence}",
    ]
    if row.bot_ids:
        lines.append(f"  Bot IDs:       {', '.join(one_line(b, 80) for b in row.bot_ids)}")
    if network:
        lines.append(f"  Network:       {', '.join(network)}")
    lines += [
        "",
        "Please let the owner of the host know, so the infection is cleaned up.",
        f"This report is shared under TLP:{context.tlp.upper()}.",
        "",
        "The machine-readable report (X-ARF bot-infection) is attached as",
        "report.txt, the evidence as evidence.txt.",
        "",
        f"-- {one_line(context.producer, 100)} ({USER_AGENT})",
    ]
    return "\n".join(lines) + "\n"


def message(row: FeedRow, context: FeedContext) -> Message:
    """One X-ARF mail for one bot.

    Built with the ``email.mime`` classes rather than :class:`email.message.EmailMessage`:
    the newer API parses every header it is given again, which made a mail cost 4.4 ms;
    these cost about a third of that (benchmarks/feed_formats.py)."""
    fields = report_fields(row, context)
    msg = MIMEMultipart("mixed")
    msg["From"] = formataddr((one_line(context.producer, 64), contact_of(context)), "utf-8")
    subject = f"[botmon] bot-infection: {row.ip} in {one_line(row.botnet, 64)}"
    if subject.isascii():
        msg["Subject"] = subject
    else:  # encoded words (RFC 2047); compat32 messages take a Header as a value
        msg["Subject"] = Header(subject, UTF8_QP)  # type: ignore[assignment]
    msg["Date"] = format_datetime(utc(context.generated_at))
    msg["Message-ID"] = f"<{fields['Report-ID']}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-XARF"] = "PLAIN"
    report = yaml.dump(
        fields,
        Dumper=YAML_DUMPER,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1000,
    )
    evidence = (
        "# The feed row of botmon's store for this bot (JSON; times in epoch seconds)\n"
        + html_safe_json(msgspec.json.encode(row).decode())
        + "\n"
    )
    msg.attach(text_part(human_text(row, context)))
    for name, text in (("report.txt", report), ("evidence.txt", evidence)):
        part = text_part(text)
        part.set_param("name", name)
        part.add_header("Content-Disposition", "inline", filename=name)
        msg.attach(part)
    return msg


def text_part(text: str) -> Message:
    """A ``text/plain; charset="utf-8"`` part, quoted-printable."""
    part = Message()
    part.set_payload(text, UTF8_QP)
    return part


def mbox_entry(msg: Message, sender: str, when: float) -> bytes:
    """The message as one mbox entry: the ``From`` separator line, the message with body
    lines starting ``From `` escaped, and the blank line that ends it."""
    out = io.BytesIO()
    out.write(f"From {sender} {time.asctime(time.gmtime(int(when)))}\n".encode())
    BytesGenerator(out, mangle_from_=True, maxheaderlen=78).flatten(msg)
    out.write(b"\n")
    return out.getvalue()


class XarfFormat:
    """``format=xarf``: an mbox of X-ARF bot-infection mails (``application/mbox``)."""

    name = "xarf"
    media_type = "application/mbox"
    extension = "mbox"
    description = (
        "X-ARF 0.2 bot-infection reports: an mbox with one mail per bot (human text, "
        "YAML report, evidence)."
    )
    fields = FIELDS

    def write(self, rows: Iterable[FeedRow], context: FeedContext) -> Iterator[bytes]:
        sender = contact_of(context)
        return chunked_bytes(
            mbox_entry(message(row, context), sender, context.generated_at) for row in rows
        )


FORMAT = XarfFormat()
