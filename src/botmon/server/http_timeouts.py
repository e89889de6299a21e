"""Read timeouts for uvicorn's HTTP protocol: silent and half-sent connections are closed.

uvicorn (0.54, httptools) arms its keep-alive timer only after a response; a connection that
opens and sends nothing, or sends part of a request's headers or body and stops, is held
forever (3,000 half-sent requests were all still held after 60 s). This protocol adds what is
missing: the headers must arrive within ``header_timeout_s`` of the connection opening or of
the request's first byte, and at most ``max_header_bytes`` of them; a body that stops arriving
for ``body_idle_timeout_s`` ends the connection. Time while the server has paused reading
(its buffer is full because the app is busy) is not the client's fault and does not count.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
"""Bytes a request may send before its headers are complete (431 beyond)."""


def timed_protocol(header_timeout_s: float, body_idle_timeout_s: float) -> type[HttpToolsProtocol]:
    """An httptools protocol class with these read timeouts, for ``uvicorn.Config(http=...)``."""

    class TimedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with header and body read timeouts."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._read_timer: asyncio.TimerHandle | None = None
            self._header_bytes: int | None = 0
            """Bytes received while headers are incomplete; None while none are expected."""

        def _arm(self, delay: float) -> None:
            self._disarm()
            self._read_timer = self.loop.call_later(delay, self._read_timed_out)

        def _disarm(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def _read_timed_out(self) -> None:
            self._read_timer = None
            if self.transport.is_closing():
                return
            if self.flow.read_paused:  # the server is not reading: not the client's fault
                self._arm(body_idle_timeout_s)
                return
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(header_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._header_bytes is None or self.transport.is_closing():
                return  # headers complete (body bytes do not count) or already answered
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._disarm()
                self._header_bytes = None
                self._send_error(431, b"Request Header Fields Too Large")

        def _send_error(self, status: int, text: bytes) -> None:
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, text, len(text), text)
            )
            self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_bytes is None:  # a pipelined or keep-alive request starts
                self._header_bytes = 0
                self._arm(header_timeout_s)

        def on_headers_complete(self) -> None:
            self._header_bytes = None
            self._arm(body_idle_timeout_s)
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            self._arm(body_idle_timeout_s)
            super().on_body(body)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

    return TimedHttpToolsProtocol
