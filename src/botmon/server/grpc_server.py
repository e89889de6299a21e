"""The gRPC listener of ``botmon serve --grpc-port``: the BMS API beside the HTTP API.

It runs in the HTTP server's event loop and shares its :class:`ServerState` (store, ingest
workers, token cache), so a BMS batch takes the same path as an HTTP one. TLS uses the HTTP
API's certificate; plaintext only when asked (``--grpc-plaintext``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import uvicorn

from botmon.server.bms_api import BmsService
from botmon.server.state import ServerState

GRACE_S = 5.0
"""How long running calls may finish when the server stops."""


class GrpcStartError(Exception):
    """The gRPC listener could not start; the message is one line for the user."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start_grpc(
    state: ServerState, clock: Callable[[], float] = time.time
) -> tuple[grpc.aio.Server, int]:
    """Start the BMS API on ``settings.grpc_port`` in the running loop; (server, its port).
    ``clock``: the sessions' clock (tests move it to expire a session)."""
    settings = state.settings
    message_bytes = int(settings.max_body_bytes)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    service = BmsService(state, clock)
    server.add_generic_rpc_handlers((service.handler(),))
    address = _address(settings.host, settings.grpc_port)
    try:
        if settings.grpc_plaintext:  # asked for: also beside an HTTPS API, for BMS clients
            port = server.add_insecure_port(address)
        elif settings.tls:
            credentials = grpc.ssl_server_credentials(
                [(Path(settings.tls_key).read_bytes(), Path(settings.tls_cert).read_bytes())]
            )
            port = server.add_secure_port(address, credentials)
        else:
            raise GrpcStartError(
                "the BMS gRPC API needs TLS (--tls-cert and --tls-key) or --grpc-plaintext"
            )
    except RuntimeError as exc:
        raise GrpcStartError(f"cannot listen for gRPC on {address}: {exc}") from None
    except OSError as exc:
        raise GrpcStartError(f"cannot read the TLS files: {exc}") from None
    if port == 0:
        raise GrpcStartError(f"cannot listen for gRPC on {address} (in use?)")
    await server.start()
    return server, port


class HttpAndGrpcServer(uvicorn.Server):
    """uvicorn's server that also runs the BMS gRPC API in its loop when it is asked for.

    The gRPC listener starts before HTTP does (a port in use stops start-up with one line)
    and stops first on shutdown, while the store and the ingest workers still serve the calls
    it lets finish.
    """

    def __init__(
        self, config: uvicorn.Config, state: ServerState, echo: Callable[[str], None]
    ) -> None:
        super().__init__(config)
        self._state = state
        self._echo = echo
        self._grpc: grpc.aio.Server | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        settings = self._state.settings
        if settings.grpc_port is not None:
            self._grpc, port = await start_grpc(self._state)
            mode = "plaintext" if settings.grpc_plaintext else "TLS"
            self._echo(f"botmon: BMS gRPC API on {_address(settings.host, port)} ({mode})")
        try:
            await super().serve(sockets)
        finally:
            await self._stop_grpc()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._stop_grpc()
        await super().shutdown(sockets)

    async def _stop_grpc(self) -> None:
        running, self._grpc = self._grpc, None
        if running is not None:
            await running.stop(GRACE_S)
