"""uvicorn's httptools protocol with a header timeout, which uvicorn 0.54 does not have.

uvicorn arms its keep-alive timer only after a response, and cancels it at the first byte of
the next request: a connection that never sends a request, or sends its headers a byte at a
time (slowloris), is kept for ever. Here each connection must complete a request's headers
within ``header_timeout_s`` of opening, and of the first byte of each later request; a late
one is answered 408 and closed. Deadlines are swept once per period (see
:mod:`bridge.deadlines`), so a request pays a dict store and a dict pop, not a timer.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from bridge.deadlines import Deadlines, Sweep

_TIMEOUT_BODY = b"request headers not received in time"
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n\r\n%s"
) % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)

# One deadline registry and sweep per server (per event loop), shared by its connections.
_SERVERS: weakref.WeakKeyDictionary[ServerState, Deadlines[HeaderTimeoutProtocol]] = (
    weakref.WeakKeyDictionary()
)


def _headers_deadlines(
    server_state: ServerState, loop: asyncio.AbstractEventLoop, limit_s: float
) -> Deadlines[HeaderTimeoutProtocol]:
    deadlines = _SERVERS.get(server_state)
    if deadlines is None:
        deadlines = Deadlines(limit_s)
        _SERVERS[server_state] = deadlines
        Sweep(loop, deadlines, HeaderTimeoutProtocol.headers_too_late)
    return deadlines


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
        self._headers = _headers_deadlines(server_state, self.loop, header_timeout_s)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._headers.start(self, self.loop.time())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # Keeps the deadline set at connection_made for a first request.
        self._headers.start(self, self.loop.time())

    def on_headers_complete(self) -> None:
        self._headers.finish(self)
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers.finish(self)
        super().connection_lost(exc)

    def headers_too_late(self) -> None:
        """Answer 408 and close; a response still being written is only cut off."""
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()
