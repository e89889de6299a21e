"""The HNS and linenet plugins with plain bytes, the plugin contract, and the registry."""

from __future__ import annotations

import ast
import inspect
import itertools
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from botmon.cli.protocols import command as protocols_command
from botmon.protocols import contract, hns, linenet
from botmon.protocols.contract import (
    HOOKS,
    Peer,
    ProtocolDefaults,
    RequestContext,
    SensorContext,
    Status,
)
from botmon.protocols.registry import ENTRY_POINT_GROUP, PluginError, Registry

SRC = Peer("127.1.2.3", 6000)
NOW = 1_700_000_000.0
CTX = RequestContext()
SENSOR = SensorContext(Peer("127.0.0.1", 6000))


# ----- Hide'n'Seek ---------------------------------------------------------------------------


def test_hns_request_is_a_single_tilde() -> None:
    assert hns.peer_request(SRC, CTX) == b"~"


def test_hns_reply_announces_one_peer_with_big_endian_port_and_address() -> None:
    # ^, an uninterpreted byte, port 0x1770 = 6000, address 127.9.8.7
    res = hns.read_reply(b"^\x63\x17\x70\x7f\x09\x08\x07", SRC, NOW, CTX)
    assert res.status is Status.BOT_REPLY
    assert res.peers == (Peer("127.9.8.7", 6000),)
    (reply,) = res.replies
    assert (reply.ip, reply.port, reply.bot_id, reply.timestamp) == (SRC.ip, 6000, None, NOW)
    (edge,) = res.edges
    assert (edge.src_ip, edge.src_port, edge.dst_ip, edge.dst_port) == (
        SRC.ip,
        6000,
        "127.9.8.7",
        6000,
    )


def test_hns_trailing_bytes_are_ignored_up_to_the_cap() -> None:
    res = hns.read_reply(b"^\x00\x00\x50\x7f\x00\x00\x02" + b"x" * 100, SRC, NOW, CTX)
    assert res.status is Status.BOT_REPLY
    assert res.peers == (Peer("127.0.0.2", 80),)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"^", "short"),
        (b"^\x00\x17\x70\x7f\x00\x00", "short"),  # 7 bytes: the 1-based reading is refused
        (b"~\x00\x17\x70\x7f\x00\x00\x01", "bad_magic"),
        (b"^" + b"\x00" * 2000, "oversized"),
    ],
)
def test_hns_bad_replies_are_no_reply_with_a_reason(data: bytes, reason: str) -> None:
    res = hns.read_reply(data, SRC, NOW, CTX)
    assert res.status is Status.NO_REPLY
    assert res.reason == reason
    assert res.replies == () and res.peers == () and res.edges == ()


def test_hns_unusable_announced_peer_still_counts_the_bot() -> None:
    res = hns.read_reply(b"^\x00\x00\x00\x7f\x00\x00\x01", SRC, NOW, CTX)  # port 0
    assert res.status is Status.BOT_REPLY
    assert res.peers == () and res.edges == ()
    assert len(res.replies) == 1


# ----- linenet -------------------------------------------------------------------------------


def _answer(*lines: str) -> bytes:
    return "".join(f"{x}\n" for x in lines).encode()


def test_linenet_request() -> None:
    assert linenet.peer_request(SRC, CTX) == b"PEERS\n"


def test_linenet_bot_answer_gives_id_peers_and_edges() -> None:
    data = _answer("BOT 0123456789abcdef", "PEER 127.1.1.1 7070", "PEER 127.2.2.2 7071", "END")
    res = linenet.read_reply(data, SRC, NOW, CTX)
    assert res.status is Status.BOT_REPLY
    assert res.bot_id == "0123456789abcdef"
    assert res.peers == (Peer("127.1.1.1", 7070), Peer("127.2.2.2", 7071))
    assert [r.bot_id for r in res.replies] == ["0123456789abcdef"]
    assert [(e.src_id, e.dst_ip, e.dst_port) for e in res.edges] == [
        ("0123456789abcdef", "127.1.1.1", 7070),
        ("0123456789abcdef", "127.2.2.2", 7071),
    ]


def test_linenet_bot_without_peers() -> None:
    res = linenet.read_reply(_answer("BOT 0123456789abcdef", "END"), SRC, NOW, CTX)
    assert res.status is Status.BOT_REPLY
    assert res.peers == ()


def test_linenet_other_service_is_benign() -> None:
    res = linenet.read_reply(b"HELLO\n", SRC, NOW, CTX)
    assert res.status is Status.BENIGN_REPLY
    assert res.replies == ()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"BOT 0123456789abcdef", "truncated"),
        (_answer("BOT 0123456789abcdef", "PEER 127.1.1.1 7070"), "truncated"),
        (_answer("BOT 0123456789ABCDEF", "END"), "bad_bot_id"),
        (_answer("BOT 0123", "END"), "bad_bot_id"),
        (_answer("BOT 0123456789abcdef", "PEER 127.1.1.1", "END"), "garbage"),
        (_answer("BOT 0123456789abcdef", "PEER 127.1.1.999 7070", "END"), "bad_peer"),
        (_answer("BOT 0123456789abcdef", "PEER 127.1.1.1 0", "END"), "bad_peer"),
        (_answer("BOT 0123456789abcdef", "PEER 127.1.1.1 70700", "END"), "bad_peer"),
        (_answer("BOT 0123456789abcdef", "PEER 127.01.1.1 7070", "END"), "bad_peer"),
        (_answer("BOT 0123456789abcdef", "END", "PEER 127.1.1.1 7070"), "data_after_end"),
        (_answer("BOT 0123456789abcdef", "x" * 200, "END"), "long_line"),
        (_answer("BOT 0123456789abcdef", *["PEER 127.1.1.1 7070"] * 70, "END"), "too_many_lines"),
        (b"\xff\xfe\x00garbage\n", "garbage"),
        (b"A" * 9000, "oversized"),
    ],
)
def test_linenet_bad_answers_are_no_reply(data: bytes, reason: str) -> None:
    res = linenet.read_reply(data, SRC, NOW, CTX)
    assert res.status is Status.NO_REPLY
    assert res.reason == reason


# ----- the contract and the registry ---------------------------------------------------------


def test_every_contract_hook_is_documented() -> None:
    assert {h.name for h in HOOKS} >= {"TRANSPORT", "DEFAULTS", "peer_request", "read_reply"}
    for hook in HOOKS:
        assert hook.doc.strip(), f"hook {hook.name} has no docstring"
    # every ProtocolDefaults field carries a docstring right below it in contract.py
    tree = ast.parse(Path(contract.__file__).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ProtocolDefaults")
    body = cls.body
    documented = {
        stmt.target.id
        for stmt, after in itertools.pairwise(body)
        if isinstance(stmt, ast.AnnAssign)
        and isinstance(stmt.target, ast.Name)
        and isinstance(after, ast.Expr)
        and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str)
    }
    fields = {f for f in ProtocolDefaults.__dataclass_fields__}
    assert fields - documented == set(), "undocumented ProtocolDefaults fields"


def test_plugins_define_only_contract_hooks_and_document_their_functions() -> None:
    hook_names = {h.name for h in HOOKS}
    for module in (hns, linenet):
        public = {
            n
            for n, v in vars(module).items()
            if callable(v) and inspect.getmodule(v) is module and not n.startswith("_")
        }
        assert public <= hook_names, (
            f"{module.__name__} defines non-hook functions {public - hook_names}"
        )
        for name in public:
            assert (getattr(module, name).__doc__ or "").strip(), f"{module.__name__}.{name}"


def test_builtins_come_through_the_entry_point_group() -> None:
    registry = Registry()
    assert {"hns", "linenet"} <= set(registry.names())
    assert registry.get("hns").transport == "udp"
    assert registry.get("linenet").transport == "tcp"
    assert ENTRY_POINT_GROUP == "botmon.protocols"


def test_discovery_off_gives_only_what_is_registered() -> None:
    registry = Registry(discover=False)
    assert registry.names() == []
    with pytest.raises(PluginError, match="unknown protocol 'hns'"):
        registry.get("hns")
    registry.register("hns", "botmon.protocols.hns")
    assert registry.names() == ["hns"]


def test_a_new_botnet_is_a_module_with_two_functions_and_two_constants() -> None:
    mod = types.ModuleType("toy")
    mod.TRANSPORT = "udp"  # type: ignore[attr-defined]
    mod.DEFAULTS = ProtocolDefaults(port=1234)  # type: ignore[attr-defined]
    mod.peer_request = lambda peer, ctx: b"?"  # type: ignore[attr-defined]
    mod.read_reply = lambda data, src, now, ctx: contract.no_reply("toy")  # type: ignore[attr-defined]
    plugin = Registry(discover=False).register("toy", mod)
    assert plugin.peer_request(SRC, CTX) == b"?"
    assert plugin.handle_request is None


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"TRANSPORT": "udp", "DEFAULTS": ProtocolDefaults(port=1)}, "lacks peer_request"),
        ({"TRANSPORT": "sctp"}, "TRANSPORT must be one of"),
        ({"DEFAULTS": {"port": 1}}, "DEFAULTS must be a ProtocolDefaults"),
        ({"DEFAULTS": ProtocolDefaults(port=0)}, "default port 0"),
        ({"DEFAULTS": ProtocolDefaults(port=1, timeouts=())}, "timeouts"),
        ({"DEFAULTS": ProtocolDefaults(port=1, timeouts=(8.0, 4.0))}, "must not decrease"),
        ({"read_reply": 5}, "read_reply is not callable"),
    ],
)
def test_broken_plugins_are_refused_with_one_line(attrs: dict[str, object], message: str) -> None:
    mod = types.ModuleType("broken")
    base: dict[str, object] = {
        "TRANSPORT": "udp",
        "DEFAULTS": ProtocolDefaults(port=1),
        "peer_request": lambda p, c: b"",
        "read_reply": lambda d, s, n, c: None,
    }
    base.update(attrs)
    if message.startswith("lacks"):
        base.pop("peer_request")
    for k, v in base.items():
        setattr(mod, k, v)
    with pytest.raises(PluginError, match=message):
        Registry(discover=False).register("broken", mod)


def test_protocols_command_lists_plugins_with_transport_and_defaults() -> None:
    result = CliRunner().invoke(protocols_command, ["-v"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines() if line}
    assert lines["hns"][1:5] == ["udp", "6000", "4", "4,8,16,32"]
    assert lines["linenet"][1:3] == ["tcp", "7070"]
    assert "max_reply_bytes=1500" in result.output
