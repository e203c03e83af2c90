"""uvicorn's httptools protocol with the limits uvicorn 0.54 lacks: header and body timeouts,
and a connection cap whose 503 says when to come back.

uvicorn arms its keep-alive timer only after a response, and cancels it at the first byte of
the next request: a connection that never sends a request, or sends its headers a byte at a
time (slowloris), is kept for ever, and so is a request whose body never ends.

Here each connection must complete a request's headers within ``header_timeout_s`` of opening,
and of the first byte of each later request, and its body within ``body_timeout_s`` of the
headers. Late headers are answered 408 here and the connection closed. A late body is the
app's to answer, since the app is reading it: the request's scope gets :data:`BODY_LATE` and
the app's pending ``receive()`` returns, so the app answers 408 itself (and logs and counts it);
an app that does not answer by the next deadline has its connection closed.

One sweep per period checks the server's connections, so a request pays a few attribute
stores, not a timer (docs/performance.md, "Deadlines").

A request arriving while more than ``max_connections`` connections are open, or that many
requests are in progress, is answered 503 with ``Retry-After`` and its connection closed, and a
warning is logged (once a minute at most, with a count). This is uvicorn's
``limit_concurrency`` check, whose own 503 carries no ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from core.away import RepeatFilter

log = logging.getLogger(__name__)
# A flood over the cap would otherwise log a line per refused request.
log.addFilter(RepeatFilter(__name__))

BODY_LATE = "drip.body_late"
"""Scope key set to True when the request's body did not arrive within its time."""

_TIMEOUT_BODY = b"request headers not received in time"
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n\r\n%s"
) % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)

_NO_DEADLINE = float("inf")

_BUSY_BODY = b"too many connections; retry later"


def _busy_app(retry_after_s: int) -> ASGIApp:
    """The answer to a request over the connection cap."""
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(_BUSY_BODY)).encode()),
        (b"retry-after", str(retry_after_s).encode()),
        (b"connection", b"close"),
    ]

    async def busy(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": _BUSY_BODY, "more_body": False})

    return busy


# Servers (one per event loop) whose connections a sweep already checks.
_SWEPT: weakref.WeakSet[ServerState] = weakref.WeakSet()


def sweep_period(timeout_s: float) -> float:
    """How often a server checks its connections: a quarter of the timeout, within 0.1-1 s."""
    return min(1.0, max(0.1, timeout_s / 4))


def _sweep(loop: asyncio.AbstractEventLoop, state: ServerState, period: float) -> None:
    """Deal with this server's connections past their deadline, then sweep again."""
    try:
        now = loop.time()
        for connection in list(state.connections):
            if isinstance(connection, LimitedProtocol) and connection.due <= now:
                connection.too_late()
    finally:
        loop.call_later(period, _sweep, loop, state, period)


class LimitedProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that ends requests slow to send their headers or body, and
    answers requests over the connection cap 503 with ``Retry-After``.

    uvicorn builds one per connection; bind the limits with ``functools.partial`` (a partial
    of this module-level class pickles, as uvicorn's worker processes need).
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout_s: float,
        body_timeout_s: float,
        max_connections: int,
        retry_after_s: int,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timeout_s = header_timeout_s
        self._body_timeout_s = body_timeout_s
        self._max_connections = max_connections
        self._retry_after_s = retry_after_s
        self.due = _NO_DEADLINE
        """Loop time by which the current request's headers, or its body, must be complete."""
        self._in_body = False
        if server_state not in _SWEPT:
            _SWEPT.add(server_state)
            period = sweep_period(min(header_timeout_s, body_timeout_s))
            self.loop.call_later(period, _sweep, self.loop, server_state, period)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.due = self.loop.time() + self._header_timeout_s

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # A first request keeps the deadline its connection started with.
        if self.due == _NO_DEADLINE:
            self.due = self.loop.time() + self._header_timeout_s

    def on_headers_complete(self) -> None:
        self.due = self.loop.time() + self._body_timeout_s
        self._in_body = True
        cap = self._max_connections
        if len(self.connections) <= cap and len(self.tasks) < cap:
            super().on_headers_complete()
            return
        # uvicorn runs self.app for the request it sets up here; this one gets the 503.
        log.warning("more than %d connections or requests; answered 503", cap)
        app, self.app = self.app, _busy_app(self._retry_after_s)
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        self.due = _NO_DEADLINE
        self._in_body = False
        super().on_message_complete()

    def too_late(self) -> None:
        """The sweep found this connection past its deadline."""
        cycle = self.cycle
        if self._in_body and cycle is not None and not cycle.response_started:
            # The app answers (408); if it does not by the next deadline, the connection goes.
            self._in_body = False
            self.due = self.loop.time() + self._header_timeout_s
            cycle.scope[BODY_LATE] = True  # type: ignore[literal-required]
            cycle.message_event.set()
            return
        self.due = _NO_DEADLINE
        if self.transport.is_closing():
            return
        if cycle is None or cycle.response_complete:
            self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()
