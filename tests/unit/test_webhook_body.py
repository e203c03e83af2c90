"""How the webhook endpoint reads a body, driven with raw ASGI messages: whole or in chunks,
too large, cut off by the client, or late (the server's protocol marks the scope)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
import pytest

from bridge.accesslog import AccessLog
from bridge.app import WEBHOOK_PATH
from bridge.ingest import Record
from bridge.metrics import Metrics
from bridge.protocol import BODY_LATE
from bridge.publisher import Publisher
from bridge.webhook import WebhookEndpoint
from core.settings import Settings
from tests.factories import TEST_SECRET, make_event, pretty_body, sign
from tests.publishers import RecordingPublisher

MAX_BODY = 4096
BODY = pretty_body(make_event("member.points.awarded", id="evt-body-read"))


def _request(chunks: list[dict[str, Any]], *, late_after: int | None = None) -> tuple[
    int, dict[str, Any], list[Record], dict[bytes, bytes]
]:  # fmt: skip
    """Run one request whose ``receive()`` yields ``chunks``; the protocol marks the body late
    once ``late_after`` of them were read. Returns status, JSON answer, records, headers."""
    publisher = RecordingPublisher()
    settings = Settings(
        _env_file=None,
        webhook_secrets=TEST_SECRET,  # type: ignore[arg-type]
        max_body_bytes=MAX_BODY,
        body_timeout_s=3,
        spool_enabled=False,
    )
    endpoint = WebhookEndpoint(settings, cast(Publisher, publisher), Metrics(), AccessLog())
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": WEBHOOK_PATH,
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-drip-signature", sign(BODY).encode())],
    }
    pending = list(chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if late_after is not None and len(chunks) - len(pending) >= late_after:
            scope[BODY_LATE] = True
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(endpoint(scope, receive, send))
    headers = dict(sent[0]["headers"])
    return sent[0]["status"], orjson.loads(sent[1]["body"]), publisher.records, headers


def _chunk(body: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


DISCONNECT = {"type": "http.disconnect"}


@pytest.mark.parametrize(
    ("case", "chunks", "late_after", "status", "error"),
    [
        ("whole", [_chunk(BODY, False)], None, 200, None),
        ("three chunks", [_chunk(BODY[:5], True), _chunk(BODY[5:9], True),
                          _chunk(BODY[9:], False)], None, 200, None),
        ("empty chunk last", [_chunk(BODY, True), _chunk(b"", False)], None, 200, None),
        ("late after one chunk", [_chunk(BODY[:5], True), _chunk(b"", True)], 1, 408,
         "body not received within 3 s"),
        ("late but complete", [_chunk(BODY, False)], 0, 200, None),
        ("too large in chunks", [_chunk(b" " * MAX_BODY, True), _chunk(b"x", False)], None,
         413, f"body larger than {MAX_BODY} bytes"),
        ("disconnect first", [DISCONNECT], None, 400,
         "client disconnected before the body ended"),
        ("disconnect midway", [_chunk(BODY[:5], True), DISCONNECT], None, 400,
         "client disconnected before the body ended"),
    ],
)  # fmt: skip
def test_body_reading(
    case: str,
    chunks: list[dict[str, Any]],
    late_after: int | None,
    status: int,
    error: str | None,
) -> None:
    answered, answer, records, headers = _request(chunks, late_after=late_after)
    assert answered == status, (case, answer)
    if status == 200:
        assert [r.value for r in records] == [BODY]
    else:
        assert answer == {"error": error}
        assert records == []
    if status in (408, 413):
        assert headers[b"connection"] == b"close"
