"""The report client's door to a BMS storage server (``grpc://`` and ``grpcs://``).

It speaks the client's one-method :class:`~botmon.client.transport.Transport` language, so
the journal, spool, retries and back-pressure of :class:`~botmon.client.ReportClient` work
unchanged, and translates each request into the BMS protocol::

    POST /api/v1/campaigns   -> keeps the run's settings; RegisterSession (campaign id,
                                frequency = crawl interval, monitor port, config JSON)
    POST /api/v1/heartbeat   -> RegisterSession when there is no session (a wrong token shows
                                at start); nothing else: BMS has no heartbeats or commands
    POST /api/v1/ingest      -> one request per non-empty kind on its bidirectional stream,
                                each acknowledged by its uint32 batch id
    POST .../campaigns/N/end -> Disconnect(FINISHED, or CLIENT_ERROR after a crash)

Answers come back as the HTTP statuses the client's policy already knows: a dead server or
a broken stream is a :class:`TransportFailure` (retried with back-off, the batch stays
spooled), a refused token 401, a refused batch 422 (set aside in ``rejected/``). A kind's
records the server finds over its message size limit are sent in halves, each under a BMS
batch id of its own, until they fit; parts already acknowledged are not sent again.

A session the server no longer knows (it restarted, or the session timed out) is registered
again and the request repeated once. A batch keeps its BMS batch id while its session lives,
so a batch resent after a lost acknowledgement is stored once; the protocol has no way to say
the same across sessions, so a batch whose acknowledgement was lost *and* whose session
expired is sent again under a new id (the server may then keep it twice).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import grpc.aio
import msgspec

from botmon.bms import bms_storage_pb2 as pb
from botmon.bms.bms_storage_pb2_grpc import BMSStorageServiceStub
from botmon.client.bms_records import BATCH_BUILDERS
from botmon.client.errors import ReportClientError
from botmon.client.transport import Answer, TransportFailure
from botmon.crawl.scope import Scope
from botmon.wire import RECORD_KINDS, Batch, Campaign, CampaignSettings, CampaignStart

log = logging.getLogger("botmon.client.grpc")

TOKEN_BYTES = 32
END_REASONS: dict[str, pb.DisconnectReason] = {
    "finished": pb.DISCONNECT_REASON_FINISHED,
    "client_error": pb.DISCONNECT_REASON_CLIENT_ERROR,
    "be_right_back": pb.DISCONNECT_REASON_BE_RIGHT_BACK,
}
"""How a run ends, as :meth:`GrpcTransport.set_end_reason` takes it."""
_MAX_TRACKED = 10_000
"""Batches whose BMS ids (or acknowledged kinds) are remembered; only a few are in flight."""
_RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.ABORTED,
}
_SESSION_LOST = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.FAILED_PRECONDITION}
_CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),  # like the HTTP client: no proxy from the environment
    ("grpc.max_receive_message_length", 1 << 20),
]
_STREAMS = {
    "replies": "StoreDatedBotReplyBatch",
    "failed_tries": "StoreDatedFailedTryBatch",
    "edges": "StoreDatedEdgeBatch",
}
_batch_decoder = msgspec.json.Decoder(Batch)
_campaign_decoder = msgspec.json.Decoder(CampaignStart)
_encode = msgspec.json.encode
_NO_COMMANDS = b'{"commands":[]}'


def token_bytes(token: str) -> bytes:
    """The 32 raw bytes of a botmon token given URL-safe (botmon) or standard (BMS) base64."""
    text = token.strip()
    alt = b"+/" if ("+" in text or "/" in text) else b"-_"
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=alt, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != TOKEN_BYTES:
        raise ReportClientError(
            "a grpc:// server needs the token's 32 bytes: give the botmon token (URL-safe "
            "base64, 43 characters) or its standard base64 form (44 characters)"
        )
    return raw


def split_target(url: str) -> tuple[str, int, bool]:
    """Host, port and whether TLS is used, from ``grpc://HOST:PORT`` or ``grpcs://HOST:PORT``."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme not in ("grpc", "grpcs")
        or not parts.hostname
        or port is None
        or parts.path not in ("", "/")
        or parts.query
        or parts.username
    ):
        raise ReportClientError(
            f"gRPC server must be grpc://HOST:PORT or grpcs://HOST:PORT, got {url[:120]!r}"
        )
    return parts.hostname, port, parts.scheme == "grpcs"


def _status(exc: grpc.aio.AioRpcError) -> str:
    return f"gRPC {exc.code().name}: {exc.details() or ''}".rstrip(": ")


def _answer(status: int, message: str) -> Answer:
    return Answer(status, _encode({"detail": message}))


class _TooBig(Exception):
    """The server refused a message over its size limit: send the records in two parts."""


class _SessionLost(Exception):
    """The server no longer knows the session (restarted, timed out): register again."""


class GrpcTransport:
    """:class:`~botmon.client.transport.Transport` to a BMS storage server over gRPC."""

    def __init__(
        self,
        server_url: str,
        monitor_id: str,
        token: str,
        botnet: str,
        *,
        ca_file: str | None = None,
        request_timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        server_scope: tuple[str, ...] = ("0.0.0.0/0", "::/0"),
    ) -> None:
        self.host, self.port, self.tls = split_target(server_url)
        if not monitor_id:
            raise ReportClientError(
                "a grpc:// server needs the monitor's name: give --monitor-id (the name of "
                "the botmon token, or the monitor ID a BMS server gave you)"
            )
        self._metadata = (("auth-monitor-id", monitor_id), ("auth-token-bin", token_bytes(token)))
        self.botnet = botnet
        self._ca_file = ca_file
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._scope = Scope(server_scope)
        self._channel: grpc.aio.Channel | None = None
        self._stub: BMSStorageServiceStub | None = None
        self._streams: dict[str, Any] = {}
        self._settings: CampaignSettings | None = None
        self._campaign_id = ""
        self._registered_with: CampaignSettings | None = None
        self._session: bytes | None = None
        self._session_lock = asyncio.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        self._next_id = 1
        self._acked: dict[str, dict[str, int]] = {}
        """Per botmon batch: its parts acknowledged so far (``replies/``; ``replies/ab`` is the
        second half of the first half after two splits) and their record counts."""
        self._end_reason: pb.DisconnectReason = pb.DISCONNECT_REASON_FINISHED
        self.sessions = 0
        """Sessions registered so far (a reconnect after a server restart adds one)."""
        self.resume_from: pb.RegisterSessionResponse | None = None
        """The last RegisterSession answer (the server's last-inserted timestamps)."""

    def set_end_reason(self, reason: str) -> None:
        """How the run ends (a key of :data:`END_REASONS`); Disconnect reports it."""
        self._end_reason = END_REASONS[reason]

    # -- the Transport method --------------------------------------------------------------
    async def post(self, path: str, body: bytes, timeout_s: float | None = None) -> Answer:
        """Do what ``path`` asks of a botmon server, the BMS way."""
        timeout = self._request_timeout_s if timeout_s is None else timeout_s
        if path == "/api/v1/ingest":
            return await self._ingest(body, timeout)
        if path == "/api/v1/heartbeat":
            refused = await self._ensure_session(timeout)
            return refused or Answer(200, _NO_COMMANDS)
        if path == "/api/v1/campaigns":
            return await self._register_campaign(body, timeout)
        if path.startswith("/api/v1/campaigns/") and path.endswith("/end"):
            await self._disconnect(timeout)
            return Answer(200, b"{}")
        return _answer(404, f"{path} has no BMS counterpart")

    async def aclose(self) -> None:
        """Disconnect a session still open (with the run's end reason), close the channel."""
        if self._session is not None:
            await self._disconnect(self._connect_timeout_s)
        await self._drop_channel()

    # -- channel and session ---------------------------------------------------------------
    async def _open(self) -> BMSStorageServiceStub:
        if self._stub is not None:
            return self._stub
        await self._check_scope()
        target = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        if self.tls:
            roots = Path(self._ca_file).read_bytes() if self._ca_file else None
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.aio.secure_channel(target, credentials, _CHANNEL_OPTIONS)
        else:
            self._channel = grpc.aio.insecure_channel(target, _CHANNEL_OPTIONS)
        self._stub = BMSStorageServiceStub(self._channel)  # type: ignore[no-untyped-call]
        return self._stub

    async def _check_scope(self) -> None:
        """Every address the server's name resolves to must be inside the server scope."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TransportFailure(f"cannot resolve {self.host}: {exc}") from None
        addresses = {str(info[4][0]) for info in infos}
        outside = sorted(ip for ip in addresses if not self._scope.allows(ip))
        if outside:
            raise ReportClientError(
                f"gRPC server {self.host} is at {', '.join(outside)}, outside the client's "
                f"server scope {', '.join(self._scope.cidrs)} (setting client.server_scope); "
                "not connecting"
            )

    async def _drop_channel(self) -> None:
        for call in self._streams.values():
            call.cancel()
        self._streams.clear()
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            with contextlib.suppress(Exception):
                await channel.close(grace=None)

    def _register_request(self) -> pb.RegisterSessionRequest:
        request = pb.RegisterSessionRequest(botnet_id=self.botnet)
        s = self._settings
        if s is None:
            return request
        request.campaign_id = self._campaign_id
        if s.interval_s is not None and s.interval_s > 0:
            request.frequency = min(max(1, math.ceil(s.interval_s)), 2**32 - 1)
        port = _listen_port(s.listen)
        if port is not None:
            request.monitor_port.port = port
        request.config_json.json_string = _encode(s).decode()
        return request

    async def _ensure_session(self, timeout: float) -> Answer | None:
        """Register a session unless one is open; an Answer when the server refuses."""
        async with self._session_lock:
            if self._session is not None:
                return None
            return await self._register(timeout)

    async def _register(self, timeout: float) -> Answer | None:
        stub = await self._open()
        try:
            answer = await stub.RegisterSession(
                self._register_request(), metadata=self._metadata, timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            return self._refusal(exc)
        token = answer.session_token.token
        if len(token) != 4:
            return _answer(502, f"server gave a {len(token)}-byte session token, not 4")
        self._session = token
        self._registered_with = self._settings
        self._ids.clear()  # BMS batch ids are the session's: a new session counts anew
        self.sessions += 1
        self.resume_from = answer
        log.debug("BMS session %s open (timeout %d s)", token.hex(), answer.session_timeout)
        return None

    def _refusal(self, exc: grpc.aio.AioRpcError) -> Answer:
        code = exc.code()
        message = _status(exc)
        if code in _RETRYABLE:
            raise TransportFailure(message)
        if code is grpc.StatusCode.UNAUTHENTICATED:
            return _answer(401, message)
        if code is grpc.StatusCode.PERMISSION_DENIED:
            return _answer(403, message)
        if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
            return _answer(429, message)
        if code in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.OUT_OF_RANGE,
            grpc.StatusCode.ALREADY_EXISTS,
        ):
            return _answer(422, message)
        return _answer(500, message)

    def _session_metadata(self) -> tuple[tuple[str, bytes], ...]:
        assert self._session is not None
        return (("session-token-bin", self._session),)

    async def _register_campaign(self, body: bytes, timeout: float) -> Answer:
        try:
            start = _campaign_decoder.decode(body)
        except msgspec.DecodeError as exc:
            return _answer(422, f"campaign: {exc}")
        async with self._session_lock:
            if self._settings is None:  # one run, one campaign id, across re-registrations
                self._campaign_id = (
                    f"{start.settings.protocol}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
                )
            self._settings = start.settings
            refused = None
            if self._session is None or self._registered_with != start.settings:
                if self._session is not None:  # registered without this campaign: anew
                    await self._disconnect_locked(timeout, pb.DISCONNECT_REASON_BE_RIGHT_BACK)
                refused = await self._register(timeout)
        if refused is not None:
            return refused
        campaign = Campaign(
            id=0,
            botnet=self.botnet,
            source=self._metadata[0][1],
            started_at=time.time(),
            settings=msgspec.to_builtins(start.settings),
        )
        return Answer(200, _encode(campaign))

    async def _disconnect(self, timeout: float) -> None:
        async with self._session_lock:
            await self._disconnect_locked(timeout, self._end_reason)

    async def _disconnect_locked(self, timeout: float, reason: pb.DisconnectReason) -> None:
        if self._session is None or self._stub is None:
            return
        for call in self._streams.values():
            with contextlib.suppress(Exception):
                await call.done_writing()
        try:
            await self._stub.Disconnect(
                pb.DisconnectRequest(reason=reason),
                metadata=self._session_metadata(),
                timeout=max(0.1, timeout),
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("BMS Disconnect failed: %s", _status(exc))
        self._session = None
        for call in self._streams.values():
            call.cancel()
        self._streams.clear()

    # -- batches ---------------------------------------------------------------------------
    async def _ingest(self, body: bytes, timeout: float) -> Answer:
        """Send each kind of the batch (in parts, if the server finds one too large); the
        answer says stored once every part is acknowledged."""
        try:
            batch = _batch_decoder.decode(body)
        except msgspec.DecodeError as exc:
            return _answer(422, f"batch: {exc}")
        acked = self._acked.setdefault(batch.batch_id, {})
        for kind in RECORD_KINDS:
            pending: list[tuple[str, list[Any]]] = [(f"{kind}/", getattr(batch, kind))]
            while pending:
                part, records = pending.pop(0)
                if not records or part in acked:
                    continue
                try:
                    refused = await self._send_part(batch.batch_id, part, kind, records, timeout)
                except _TooBig as exc:
                    if len(records) == 1:
                        return _answer(422, f"one {kind} record is too large: {exc}")
                    # Halves under ids of their own; acknowledged parts are never sent again.
                    cut = (len(records) + 1) // 2
                    pending[:0] = [(part + "a", records[:cut]), (part + "b", records[cut:])]
                    continue
                if refused is not None:
                    return refused
                acked[part] = len(records)
        stored = {kind: 0 for kind in RECORD_KINDS}
        for part, n in self._acked.pop(batch.batch_id, {}).items():
            stored[part.partition("/")[0]] += n
        while len(self._acked) > _MAX_TRACKED:
            self._acked.pop(next(iter(self._acked)))
        return Answer(200, _encode({"batch_id": batch.batch_id, "stored": stored}))

    async def _send_part(
        self, batch_id: str, part: str, kind: str, records: list[Any], timeout: float
    ) -> Answer | None:
        """One part on its stream, registering (again, once) when the session is gone."""
        for again in (False, True):
            refused = await self._ensure_session(timeout)
            if refused is not None:
                return refused
            try:
                await self._send(batch_id, part, kind, records, timeout)
                return None
            except _SessionLost as lost:
                await self._forget_session()
                if again:
                    raise TransportFailure(str(lost)) from None
            except grpc.aio.AioRpcError as exc:
                await self._forget_streams()
                if exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than" in (
                    exc.details() or ""
                ):
                    raise _TooBig(_status(exc)) from None
                return self._refusal(exc)
        return None  # not reached: the second pass returns or raises

    def _bms_id(self, batch_id: str, part: str) -> int:
        key = (batch_id, part)
        bms_id = self._ids.get(key)
        if bms_id is None:
            bms_id = self._next_id
            self._next_id = self._next_id % (2**32 - 1) + 1
            self._ids[key] = bms_id
            while len(self._ids) > _MAX_TRACKED:
                self._ids.pop(next(iter(self._ids)))
        return bms_id

    async def _send(
        self, batch_id: str, part: str, kind: str, records: list[Any], timeout: float
    ) -> None:
        """One batch of one kind on its stream, until its acknowledgement arrives."""
        bms_id = self._bms_id(batch_id, part)
        request = await asyncio.to_thread(BATCH_BUILDERS[kind], bms_id, records)
        call = self._streams.get(kind)
        if call is None or call.done():
            stub = await self._open()
            call = getattr(stub, _STREAMS[kind])(metadata=self._session_metadata())
            self._streams[kind] = call
        try:
            async with asyncio.timeout(timeout):
                await call.write(request)
                while True:
                    response = await call.read()
                    if response is grpc.aio.EOF:
                        raise TransportFailure(f"server closed the {kind} stream")
                    if response.batch_id == bms_id:
                        break
                    log.debug("stray acknowledgement %d on the %s stream", response.batch_id, kind)
            self._ids.pop((batch_id, part), None)
        except TimeoutError:
            await self._forget_streams()
            raise TransportFailure(
                f"no acknowledgement of {kind} batch {bms_id} within {timeout:.0f} s"
            ) from None
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _SESSION_LOST:
                raise _SessionLost(_status(exc)) from None
            if exc.code() in _RETRYABLE:
                await self._forget_streams()
                raise TransportFailure(_status(exc)) from None
            raise
        except (grpc.aio.UsageError, asyncio.InvalidStateError) as exc:
            await self._forget_streams()
            raise TransportFailure(f"{kind} stream broken: {exc}") from None

    async def _forget_streams(self) -> None:
        for call in self._streams.values():
            call.cancel()
        self._streams.clear()

    async def _forget_session(self) -> None:
        async with self._session_lock:
            self._session = None
        await self._forget_streams()


def _listen_port(listen: list[str]) -> int | None:
    """The port of a sensor's first listen address (``HOST:PORT`` or ``[V6]:PORT``)."""
    for text in _ports(listen):
        return text
    return None


def _ports(listen: list[str]) -> Iterator[int]:
    for address in listen:
        _, _, port = address.rpartition(":")
        if port.isdigit() and 0 < int(port) < 65536:
            yield int(port)
