"""uvicorn's httptools protocol with a header timeout, which uvicorn 0.54 does not have.

uvicorn arms its keep-alive timer only after a response, and cancels it at the first byte of
the next request: a connection that never sends a request, or sends its headers a byte at a
time (slowloris), is kept for ever. Here each connection must complete a request's headers
within ``header_timeout_s`` of opening, and of the first byte of each later request; a late
one is answered 408 and closed. One sweep per period checks the server's connections, so a
request pays two attribute stores, not a timer (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

_TIMEOUT_BODY = b"request headers not received in time"
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n\r\n%s"
) % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)

_NO_DEADLINE = float("inf")

# Servers (one per event loop) whose connections a sweep already checks.
_SWEPT: weakref.WeakSet[ServerState] = weakref.WeakSet()


def sweep_period(timeout_s: float) -> float:
    """How often a server checks its connections: a quarter of the timeout, within 0.1-1 s."""
    return min(1.0, max(0.1, timeout_s / 4))


def _sweep(loop: asyncio.AbstractEventLoop, state: ServerState, period: float) -> None:
    """Close this server's connections past their header deadline, then sweep again."""
    try:
        now = loop.time()
        for connection in list(state.connections):
            if isinstance(connection, HeaderTimeoutProtocol) and connection.headers_due <= now:
                connection.headers_too_late()
    finally:
        loop.call_later(period, _sweep, loop, state, period)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that closes connections slow to send a request's headers.

    uvicorn builds one per connection; bind ``header_timeout_s`` with ``functools.partial``
    (a partial of this module-level class pickles, as uvicorn's worker processes need).
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout_s: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timeout_s = header_timeout_s
        self.headers_due = _NO_DEADLINE
        """Loop time by which the current request's headers must be complete."""
        if server_state not in _SWEPT:
            _SWEPT.add(server_state)
            period = sweep_period(header_timeout_s)
            self.loop.call_later(period, _sweep, self.loop, server_state, period)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.headers_due = self.loop.time() + self._header_timeout_s

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # A first request keeps the deadline its connection started with.
        if self.headers_due == _NO_DEADLINE:
            self.headers_due = self.loop.time() + self._header_timeout_s

    def on_headers_complete(self) -> None:
        self.headers_due = _NO_DEADLINE
        super().on_headers_complete()

    def headers_too_late(self) -> None:
        """Answer 408 and close; a response still being written is only cut off."""
        self.headers_due = _NO_DEADLINE
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()
