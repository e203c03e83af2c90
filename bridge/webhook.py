"""``POST /webhooks/drip``: read, verify, check, publish, then answer.

Written as a plain ASGI app rather than a Starlette request handler: this is the hot path,
and it needs only the body, two headers and a JSON answer.

The record published holds the bytes the signature covered (the body, or its compact form).

Order of checks (each failure answers at once and publishes nothing):
    413  body over ``max_body_bytes`` (declared length first, then counted while reading)
    408  body not received within ``body_timeout_s``
    401  signature missing, repeated, malformed, or matching no secret in either form
    400  body not UTF-8 JSON, nested deeper than ``max_json_depth``, not an object, without a
         non-empty string ``type``, or with a type or identifier over the contract's limits
    503  Kafka did not acknowledge in ``publish_timeout_s`` (with ``Retry-After``)
    200  Kafka acknowledged: ``{"event_id", "topic", "partition", "offset"}``; or, while Kafka
         is away, the record is fsync'd in the spool: ``{"event_id", "spooled": true}``
         (:mod:`bridge.spool_drain`; with the spool off or full, 503 as above)

A client over its failure budget (:mod:`bridge.guard`) gets 429 with ``Retry-After`` instead
of 401, 400 or 413, and its signatures are checked in the raw form only; a correctly signed
delivery is still accepted. Bodies over ``compact_signature_max_bytes`` are checked in the
raw form only, so refusing a large wrongly signed body costs one HMAC. 413 and 408 close
the connection: the rest of the body is unread.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson

from bridge import signature
from bridge.accesslog import AccessLog
from bridge.guard import BUDGETED_STATUSES, RequestGuard
from bridge.ingest import InvalidEvent, build_record, decode_json, require_event
from bridge.metrics import Metrics
from bridge.protocol import BODY_LATE
from bridge.publisher import Ack, Publisher
from bridge.spool_drain import Spooled, SpoolRoute
from core.errors import ServiceUnavailable
from core.settings import Settings

Scope = dict[str, Any]
_JSON = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")


class _Refused(Exception):
    """A request answered with an error status; carries what the log line needs."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


class WebhookEndpoint:
    """The ASGI app behind ``POST /webhooks/drip``; one per receiver app."""

    def __init__(
        self, settings: Settings, publisher: Publisher, metrics: Metrics, access_log: AccessLog
    ) -> None:
        self._verifier = signature.Verifier(
            settings.require_webhook_secrets(), settings.max_json_depth, settings.max_body_bytes
        )
        self._max_body = settings.max_body_bytes
        self._max_depth = settings.max_json_depth
        self._prefix = settings.topic_prefix
        self._publisher = publisher
        self._metrics = metrics
        self._access_log = access_log
        self._retry_after = (b"retry-after", str(settings.retry_after_s).encode("ascii"))
        self._guard = RequestGuard(settings)
        self._compact_max = settings.compact_signature_max_bytes
        self._body_timeout_s = settings.body_timeout_s
        self.route: SpoolRoute[Ack] | None = None
        """The way around an absent Kafka, once the app's start-up has opened the spool."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        event_type: str | None = None
        form: str | None = None
        record = None
        extra: list[tuple[bytes, bytes]] = []
        try:
            declared, header, repeated = _headers(scope)
            if declared is not None and declared > self._max_body:
                raise _Refused(413, f"body larger than {self._max_body} bytes")
            body = await self._read_body(scope, receive)
            try:
                if repeated:
                    raise signature.BadSignature(signature.Failure.DUPLICATE)
                compact = len(body) <= self._compact_max and not self._guard.over_budget(
                    scope, started
                )
                form, signed = self._verifier.verify(header, body, compact=compact)
            except signature.BadSignature as exc:
                self._metrics.signature_failure(exc.reason)
                raise _Refused(401, str(exc)) from None
            self._metrics.signature_form(form)
            try:
                event, event_type = require_event(decode_json(signed, self._max_depth))
                record = build_record(
                    event, event_type, signed, self._prefix, form, datetime.now(UTC)
                )
            except InvalidEvent as exc:
                raise _Refused(400, str(exc)) from None
            sent = time.perf_counter()
            try:
                route = self.route
                ack = await (
                    self._publisher.publish(record) if route is None else route.deliver(record)
                )
            except ServiceUnavailable as exc:
                extra.append(self._retry_after)
                raise _Refused(503, f"event not stored, retry later: {exc}") from None
            status = 200
            message = None
            if isinstance(ack, Spooled):
                payload = orjson.dumps({"event_id": record.event_id, "spooled": True})
            else:
                self._metrics.published(time.perf_counter() - sent)
                payload = orjson.dumps(
                    {
                        "event_id": record.event_id,
                        "topic": record.topic,
                        "partition": ack.partition,
                        "offset": ack.offset,
                    }
                )
        except _Refused as refused:
            status = refused.status
            message = refused.message
            if status in (408, 413):  # the rest of the body is unread
                extra.append(_CLOSE)
            if status in BUDGETED_STATUSES:
                retry_after = self._guard.retry_after(scope, started)
                if retry_after:
                    status = 429
                    message = f"too many failed requests from this client ({message})"
                    extra.append((b"retry-after", str(retry_after).encode("ascii")))
            payload = orjson.dumps({"error": message})
        await _answer(send, status, payload, extra)
        self._metrics.request(status, event_type)
        self._access_log.request(
            scope["method"],
            scope["path"],
            status,
            (time.perf_counter() - started) * 1000,
            event_type,
            record.event_id if record else None,
            record.topic if record else None,
            form,
            message,
        )

    async def _read_body(self, scope: Scope, receive: Any) -> bytes:
        """The body, counted as it comes so an oversize stream stops early.

        Its time limit is kept by the server's protocol (:mod:`bridge.protocol`), which marks
        the scope and wakes this read when the body is late.
        """
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(400, "client disconnected before the body ended")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _Refused(413, f"body larger than {self._max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if scope.get(BODY_LATE):
                raise _Refused(408, f"body not received within {self._body_timeout_s:g} s")


def _headers(scope: Scope) -> tuple[int | None, bytes | None, bool]:
    """Declared Content-Length, the signature header and whether it is repeated, in one pass.

    A repeated signature header is refused rather than one copy picked: which copy a proxy or
    framework keeps differs, so the choice would not be the sender's.
    """
    length = None
    sig = None
    repeated = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"x-drip-signature":
            repeated = sig is not None
            sig = value
    return length, sig, repeated


async def _answer(send: Any, status: int, payload: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [_JSON, (b"content-length", str(len(payload)).encode("ascii")), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
