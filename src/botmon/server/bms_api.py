"""The BMS storage API (``grpc_api.BMSStorageService``) on botmon's store and ingest path.

Monitors written for the original BMS report here unchanged. ``RegisterSession`` takes a
botmon token (metadata ``auth-monitor-id`` = the token's name, ``auth-token-bin`` = its 32
bytes) and opens a session and a campaign; each batch of the three streams then goes through
the ingest workers and the store exactly as an HTTP batch does (:mod:`botmon.server.ingest`),
with the monitor's name as source. Batch requests reach the workers as the serialized bytes
gRPC received (no deserializer here), so decoding them costs the server process nothing.

Campaigns: ``FINISHED``, ``CLIENT_ERROR``, ``OTHER`` and ``UNSPECIFIED`` end the session's
campaign; ``BE_RIGHT_BACK`` and ``BE_RIGHT_BACK_WITH_NEW_CONFIG`` (and a session that times
out) leave it open. A monitor that registers again while its latest campaign on that botnet is
open resumes that campaign when it registers with the same BMS parameters (campaign id,
frequency, address, port, configuration); with others, that campaign ends and a new one
starts.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
import msgspec

from botmon.auth import hash_token, token_from_bytes
from botmon.bms import bms_storage_pb2 as pb
from botmon.bms.convert import (
    KINDS,
    RESPONSES,
    BadValue,
    bms_rejection,
    ip_text,
    port_number,
    request_batch_id,
    wire_body,
)
from botmon.server.bms_sessions import BmsSession, BmsSessions, TooManySessions
from botmon.server.ingest import BotnetCache, store_batch
from botmon.server.state import ServerState
from botmon.settings import one_line
from botmon.store.base import Monitor, StoreError, StoreUnavailable
from botmon.validation import BatchRejected
from botmon.web.http import ApiError
from botmon.wire import Campaign

T = TypeVar("T")

SERVICE = "grpc_api.BMSStorageService"
TOKEN_BYTES = 32
"""An auth token's raw length: botmon tokens are 32 random bytes in URL-safe base64."""
MAX_CONFIG_BYTES = 64 * 1024
"""Largest ``config_json`` of a registration (kept in the campaign's settings)."""

PIPELINE = 4
"""Batches of one stream prepared and stored at once (beyond them the stream waits)."""
_REPORTING_ROLES = ("crawler", "admin")
"""Who may report records (as on ``POST /api/v1/ingest``)."""
_ENDING_REASONS = frozenset(
    {
        pb.DISCONNECT_REASON_UNSPECIFIED,
        pb.DISCONNECT_REASON_FINISHED,
        pb.DISCONNECT_REASON_CLIENT_ERROR,
        pb.DISCONNECT_REASON_OTHER,
    }
)
_STATUS_OF_HTTP = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
_METHODS = {
    "replies": "StoreDatedBotReplyBatch",
    "failed_tries": "StoreDatedFailedTryBatch",
    "edges": "StoreDatedEdgeBatch",
}


class _Refused(Exception):
    """Answer the call with this status and message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str | bytes]:
    """The call's metadata; a key given twice keeps its last value (as BMS reads it)."""
    return {key: value for key, value in context.invocation_metadata() or ()}


def _timestamp(seconds: float | None) -> pb.Timestamp | None:
    if seconds is None:
        return None
    us = round(seconds * 1_000_000)
    return pb.Timestamp(unix_seconds=us // 1_000_000, unix_nano_seconds=us % 1_000_000 * 1000)


def _bms_settings(request: pb.RegisterSessionRequest) -> dict[str, Any]:
    """What a registration says about its campaign, checked, as stored in the campaign."""
    out: dict[str, Any] = {}
    if request.HasField("campaign_id"):
        out["campaign_id"] = request.campaign_id
    if request.HasField("frequency"):
        out["frequency"] = request.frequency
    try:
        if request.HasField("public_ip"):
            out["public_ip"] = ip_text(request.public_ip, "public_ip")
        if request.HasField("monitor_port"):
            out["monitor_port"] = port_number(request.monitor_port, "monitor_port")
    except BadValue as bad:
        raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, f"{bad.field}: {bad.message}") from None
    if request.HasField("config_json"):
        text = request.config_json.json_string
        if len(text.encode()) > MAX_CONFIG_BYTES:
            raise _Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"config_json: larger than {MAX_CONFIG_BYTES} bytes",
            )
        try:
            out["config"] = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            raise _Refused(
                grpc.StatusCode.INVALID_ARGUMENT, f"config_json: not valid JSON ({exc})"
            ) from None
    return out


class BmsService:
    """The five calls of the BMS storage service over one :class:`ServerState`."""

    def __init__(self, state: ServerState, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.sessions = BmsSessions(float(state.settings.bms_session_timeout_s))
        self._cache = BotnetCache(state, float(getattr(state.settings, "botnet_cache_s", 2.0)))
        self._clock = clock

    # -- authentication --------------------------------------------------------------------
    async def _monitor(self, context: grpc.aio.ServicerContext) -> tuple[Monitor, str]:
        """The registering monitor and its token's hash."""
        meta = _metadata(context)
        name, raw = meta.get("auth-monitor-id"), meta.get("auth-token-bin")
        if not isinstance(name, str) or not name:
            raise _Refused(grpc.StatusCode.UNAUTHENTICATED, "metadata auth-monitor-id is missing")
        if not isinstance(raw, bytes) or len(raw) != TOKEN_BYTES:
            got = "missing" if raw is None else f"{len(raw)} bytes"
            raise _Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                f"metadata auth-token-bin must be the token's {TOKEN_BYTES} bytes ({got})",
            )
        digest = hash_token(token_from_bytes(raw))
        monitor = await self._guard(self.state.monitor_for_hash(digest))
        if monitor is None or monitor.name != name:
            raise _Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                f"no valid token of monitor {name[:64]!r} (unknown, revoked or another's)",
            )
        if monitor.role not in _REPORTING_ROLES:
            raise _Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"role {monitor.role!r} may not report; it needs one of: admin, crawler",
            )
        return monitor, digest

    def _session(self, context: grpc.aio.ServicerContext) -> BmsSession:
        raw = _metadata(context).get("session-token-bin")
        if not isinstance(raw, bytes):
            raise _Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                "metadata session-token-bin is missing: call RegisterSession first",
            )
        session = self.sessions.use(raw, self._clock())
        if session is None:
            raise _Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                "unknown or expired session: call RegisterSession again",
            )
        return session

    # -- calls -----------------------------------------------------------------------------
    async def register_session(
        self, request: pb.RegisterSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterSessionResponse:
        """Open a session (and a campaign, or resume the monitor's open one)."""
        try:
            monitor, digest = await self._monitor(context)
            botnet = request.botnet_id
            if monitor.role != "admin" and monitor.botnets and botnet not in monitor.botnets:
                raise _Refused(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"token {monitor.name!r} may not write botnet {botnet[:64]!r} "
                    f"(allowed: {', '.join(monitor.botnets)})",
                )
            bms = _bms_settings(request)
            campaign, last = await self._run(self._begin, monitor, botnet, bms)
            session = self.sessions.open(monitor, digest, botnet, campaign.id, self._clock())
        except TooManySessions as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except _Refused as exc:
            await context.abort(exc.code, exc.message)
        return pb.RegisterSessionResponse(
            session_token=pb.SessionToken(token=session.token),
            session_timeout=int(self.sessions.timeout_s),
            last_inserted_bot_reply=_timestamp(last["replies"]),
            last_inserted_failed_try=_timestamp(last["failed_tries"]),
            last_inserted_edge=_timestamp(last["edges"]),
        )

    def _begin(
        self, monitor: Monitor, botnet: str, bms: dict[str, Any]
    ) -> tuple[Campaign, dict[str, float | None]]:
        """In a store thread: the session's campaign and the monitor's last record times."""
        store = self.state.store
        if not isinstance(botnet, str) or not botnet or store.get_botnet(botnet) is None:
            raise _Refused(
                grpc.StatusCode.NOT_FOUND,
                f"unknown botnet {botnet[:64]!r}: create it first (botmon botnet create "
                f"{botnet[:64]})",
            )
        now = self._clock()
        settings = {"kind": "crawler", "protocol": "bms", "bms": bms}
        campaign = None
        for latest in store.latest_campaigns():
            if latest.source == monitor.name and latest.ended_at is None:
                if latest.botnet == botnet and latest.settings == settings:
                    campaign = latest  # resumed
                else:
                    store.end_campaign(latest.id, monitor.name, now)
        if campaign is None:
            campaign = store.start_campaign(botnet, monitor.name, settings, now)
        return campaign, store.last_record_times(botnet, monitor.name)

    async def disconnect(
        self, request: pb.DisconnectRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisconnectResponse:
        """End the session; end its campaign unless the monitor will be right back."""
        try:
            session = self._session(context)
            self.sessions.close(session.token)
            if request.reason in _ENDING_REASONS:
                await self._run(
                    self.state.store.end_campaign,
                    session.campaign_id,
                    session.monitor.name,
                    self._clock(),
                )
        except _Refused as exc:
            await context.abort(exc.code, exc.message)
        return pb.DisconnectResponse()

    async def store_stream(
        self, kind: str, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Store each batch of the stream and answer its ``batch_id``, in the order sent; the
        first refused batch ends the stream with its status (nothing of it stored).

        Up to :data:`PIPELINE` batches of one stream are prepared and stored at once (a
        monitor keeps sending until its acknowledgements lag), so one monitor keeps the
        ingest workers and the writer busy together. A batch stored but not acknowledged
        when the stream ends is stored once when the monitor re-sends it, in this session or a
        later one (:func:`botmon.bms.convert.batch_id_for`).
        """
        response = RESPONSES[kind]
        pending: asyncio.Queue[asyncio.Future[int] | None] = asyncio.Queue(PIPELINE)

        async def read() -> None:
            try:
                async for raw in requests:
                    session = self._session(context)  # still open; its timeout starts again
                    await pending.put(asyncio.ensure_future(self._store(kind, session, raw)))
            finally:
                await pending.put(None)

        reader: asyncio.Task[None] | None = None
        try:
            self._session(context)
            reader = asyncio.create_task(read())
            while (stored := await pending.get()) is not None:
                yield response(batch_id=await stored)
            await reader  # a session that ended while the stream ran
        except _Refused as exc:
            await context.abort(exc.code, exc.message)
        finally:
            if reader is not None:
                reader.cancel()
            while not pending.empty():
                left = pending.get_nowait()
                if left is not None and not left.cancel() and not left.cancelled():
                    left.exception()  # finished already: its outcome is not answered

    async def _store(self, kind: str, session: BmsSession, raw: bytes) -> int:
        state, metrics = self.state, self.state.metrics
        holder = await self._guard(state.monitor_for_hash(session.token_hash))
        if holder is None or holder.name != session.monitor.name:
            self.sessions.close(session.token)
            raise _Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                f"the token of monitor {session.monitor.name!r} was revoked; the session ended",
            )
        convert = functools.partial(wire_body, kind, session.botnet)
        try:
            try:
                batch = await state.ingest_pool.prepare(raw, convert)
            except BatchRejected as exc:
                reason = "malformed_json" if exc.reason == "malformed_json" else exc.reason
                raise ApiError(422, bms_rejection(exc, kind), reason) from None
            except ValueError as exc:
                raise ApiError(422, f"invalid batch: {one_line(exc)}", "invalid_batch") from None
            result = await state.run_store(
                store_batch, state, self._cache, batch, session.monitor, session.monitor.name
            )
        except ApiError as exc:
            if metrics is not None:
                metrics.count_rejected(exc.reason)
            code = _STATUS_OF_HTTP.get(exc.status_code, grpc.StatusCode.INTERNAL)
            raise _Refused(code, str(exc.detail)) from None
        if metrics is not None:
            metrics.count_stored(result.stored, result.duplicate)
        return request_batch_id(kind, raw)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a store thread, a store failure as a gRPC status."""
        return await self._guard(self.state.run_store(fn, *args))

    @staticmethod
    async def _guard(call: Awaitable[T]) -> T:
        """Await a store call; a store failure becomes a gRPC status (UNAVAILABLE: the
        monitor keeps its batch and comes back)."""
        try:
            return await call
        except ApiError as exc:  # the store is away (503)
            code = _STATUS_OF_HTTP.get(exc.status_code, grpc.StatusCode.INTERNAL)
            raise _Refused(code, str(exc.detail)) from None
        except StoreUnavailable as exc:
            raise _Refused(grpc.StatusCode.UNAVAILABLE, one_line(exc)) from None
        except StoreError as exc:
            raise _Refused(
                grpc.StatusCode.UNAVAILABLE, f"the store could not write: {one_line(exc)}"
            ) from None

    # -- wiring ----------------------------------------------------------------------------
    def handler(self) -> grpc.GenericRpcHandler:
        """The service's handlers; batch requests arrive as bytes (see the module doc)."""

        def stream(kind: str) -> grpc.RpcMethodHandler:
            async def call(
                requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                async for answer in self.store_stream(kind, requests, context):
                    yield answer

            return grpc.stream_stream_rpc_method_handler(
                call, response_serializer=RESPONSES[kind].SerializeToString
            )

        handlers: dict[str, grpc.RpcMethodHandler] = {
            "RegisterSession": grpc.unary_unary_rpc_method_handler(
                self.register_session,
                request_deserializer=pb.RegisterSessionRequest.FromString,
                response_serializer=pb.RegisterSessionResponse.SerializeToString,
            ),
            "Disconnect": grpc.unary_unary_rpc_method_handler(
                self.disconnect,
                request_deserializer=pb.DisconnectRequest.FromString,
                response_serializer=pb.DisconnectResponse.SerializeToString,
            ),
        }
        for kind in KINDS:
            handlers[_METHODS[kind]] = stream(kind)
        return grpc.method_handlers_generic_handler(SERVICE, handlers)


def method_names() -> Sequence[str]:
    """The service's method names (for the docs and tests)."""
    return ["RegisterSession", *_METHODS.values(), "Disconnect"]
