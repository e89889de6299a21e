"""The client's one door to the network: POST a JSON body to the server, get status and body.

Kept to one method so the rest of the client (batching, spool, retry, heartbeat) does not know
about httpx, and so a test can swap in a transport that fails on purpose. The environment's
proxy settings are ignored (``trust_env=False``): a stray ``HTTPS_PROXY`` must never send a
crawler's reports, or its token, anywhere but the configured server.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Protocol

import httpx

from botmon import __version__


class TransportFailure(Exception):
    """No HTTP answer: connection refused or reset, DNS, TLS handshake, or a timeout."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, reduced to what the client looks at."""

    status: int
    body: bytes
    retry_after: str | None = None


class Transport(Protocol):
    """Sends one request; the client's only I/O dependency."""

    async def post(self, path: str, body: bytes, timeout_s: float | None = None) -> Answer:
        """POST ``body`` (JSON) to ``path``; raise :class:`TransportFailure` without an answer."""

    async def aclose(self) -> None:
        """Release connections."""


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verification against the system's CAs, or only against ``ca_file`` when given."""
    if ca_file is None:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=ca_file)


class HttpTransport:
    """:class:`Transport` over an httpx connection pool (HTTP/1.1, keep-alive, TLS)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ca_file: str | None = None,
        request_timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "User-Agent": f"botmon-client/{__version__}",
            },
            verify=tls_context(ca_file),
            timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
            trust_env=False,
            follow_redirects=False,
        )

    async def post(self, path: str, body: bytes, timeout_s: float | None = None) -> Answer:
        try:
            if timeout_s is None:
                response = await self._client.post(path, content=body)
            else:
                response = await self._client.post(path, content=body, timeout=timeout_s)
        except httpx.TransportError as exc:
            raise TransportFailure(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        return Answer(response.status_code, response.content, response.headers.get("retry-after"))

    async def aclose(self) -> None:
        await self._client.aclose()
