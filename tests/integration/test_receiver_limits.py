"""`drip-bridge serve` under abuse: failed requests run out of budget (429), valid deliveries
still pass, and slow headers, slow bodies and idle connections are cut off (408)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bridge.app import WEBHOOK_PATH
from core import contract
from core.settings import Settings
from tests.factories import TEST_SECRET, make_event, pretty_body, sign
from tests.ports import free_port
from tests.process_env import process_env
from tests.receivers import ready, serve_process
from tests.waiting import until

pytestmark = pytest.mark.integration

BURST = 5
HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
COMPACT_MAX = 2000


@pytest.fixture
def port(settings: Settings, tmp_path: Path) -> Iterator[int]:
    """The CLI's receiver with small limits, once it answers /readyz."""
    port = free_port()
    env = process_env(
        settings,
        DRIP_HTTP_PORT=str(port),
        DRIP_WEBHOOK_SECRETS=TEST_SECRET,
        DRIP_FAILURE_BURST=str(BURST),
        DRIP_FAILURE_RATE_PER_S="0.5",
        DRIP_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        DRIP_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        DRIP_COMPACT_SIGNATURE_MAX_BYTES=str(COMPACT_MAX),
    )
    log = tmp_path / "serve.log"
    with serve_process(env, log) as proc:
        assert until(lambda: proc.poll() is not None or ready(port), 60), log.read_text()
        assert proc.poll() is None, log.read_text()
        yield port


def _post(client: httpx.Client, body: bytes, signature: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Drip-Signature": signature}
    return client.post(WEBHOOK_PATH, content=body, headers=headers)


async def _stored(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()


def test_failures_run_out_of_budget_and_valid_deliveries_still_pass(
    settings: Settings, port: int
) -> None:
    base = f"http://127.0.0.1:{port}"
    bad_signature = "sha256=" + "0" * 64
    with httpx.Client(base_url=base, timeout=10) as client:
        junk = [_post(client, b'{"type":"x"}', bad_signature) for _ in range(BURST + 3)]
        assert [r.status_code for r in junk] == [401] * BURST + [429] * 3
        assert all(int(r.headers["retry-after"]) >= 1 for r in junk[BURST:])
        # Over budget: other failures (400 for a signed non-event, 413) get 429 too...
        not_event = b"[1, 2]"
        assert _post(client, not_event, sign(not_event)).status_code == 429
        # ...and correctly signed events are still accepted.
        events = [make_event("member.points.awarded", id=f"evt-limit-{i}") for i in range(3)]
        answers = [_post(client, body, sign(body)) for body in map(pretty_body, events)]
        assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
        metrics = client.get("/metrics").text
    assert 'drip_webhook_requests_total{event_type="",status="429"} 4.0' in metrics
    topic = contract.topic_for(settings.topic_prefix, "member.points.awarded")
    assert asyncio.run(_stored(settings, topic)) == 3


@pytest.mark.parametrize(
    ("padding", "status"), [(0, 200), (COMPACT_MAX, 401)], ids=["small", "over the limit"]
)
def test_compact_form_signatures_count_only_up_to_their_size_limit(
    port: int, padding: int, status: int
) -> None:
    event = make_event("member.points.awarded", id=f"evt-compact-{padding}", note="x" * padding)
    body = pretty_body(event)
    compact = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        answer = _post(client, body, sign(compact))
    assert answer.status_code == status, answer.text


def _read_all(sock: socket.socket, timeout_s: float) -> bytes:
    """What the server sends until it closes the connection (or ``timeout_s`` passes)."""
    sock.settimeout(timeout_s)
    chunks = []
    try:
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    except TimeoutError:
        chunks.append(b"<still open>")
    return b"".join(chunks)


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="idle connection"),
        pytest.param(b"POST /webhooks/drip HTTP/1.1\r\nHost: x\r\nX-Dri", id="slow headers"),
    ],
)
def test_slow_or_idle_connections_get_408_and_are_closed(port: int, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.monotonic()
        sock.sendall(sent)
        answer = _read_all(sock, HEADER_TIMEOUT_S + 5)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in answer
    assert HEADER_TIMEOUT_S <= elapsed < HEADER_TIMEOUT_S + 2, elapsed


def test_a_body_slower_than_its_limit_gets_408_and_the_connection_closes(port: int) -> None:
    body = pretty_body(make_event("member.points.awarded", id="evt-slow-body"))
    head = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-Drip-Signature: {sign(body)}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("ascii")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.monotonic()
        sock.sendall(head + body[:10])
        answer = _read_all(sock, BODY_TIMEOUT_S + 5)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"body not received within 1 s" in answer
    assert b"connection: close" in answer
    assert BODY_TIMEOUT_S <= elapsed < BODY_TIMEOUT_S + 2, elapsed


def _get_healthz(sock: socket.socket) -> bytes:
    """One whole answer to ``GET /healthz`` on a kept-alive connection (its head and body may
    come in separate reads); what came before the server closed, if it did."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(10)
    answer = b""
    while not _complete(answer) and (chunk := sock.recv(4096)):
        answer += chunk
    return answer


def _complete(answer: bytes) -> bool:
    head, blank, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    return bool(blank) and length is not None and len(body) >= int(length[1])


def _held(port: int) -> socket.socket:
    """A kept-alive connection past a request, so the server holds it.

    A connection the test closed just before may still count until the server has seen its end:
    a 503 then means to try again.
    """
    deadline = time.monotonic() + 10
    while True:
        sock = socket.create_connection(("127.0.0.1", port))
        if _get_healthz(sock).startswith(b"HTTP/1.1 200 "):
            return sock
        sock.close()
        assert time.monotonic() < deadline, "no connection was served"
        time.sleep(0.1)


def test_requests_over_the_connection_cap_get_503_with_retry_after(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = process_env(
        settings,
        DRIP_HTTP_PORT=str(port),
        DRIP_WEBHOOK_SECRETS=TEST_SECRET,
        DRIP_MAX_CONNECTIONS="2",
        DRIP_RETRY_AFTER_S="7",
    )
    log = tmp_path / "serve.log"
    with serve_process(env, log) as proc:
        assert until(lambda: proc.poll() is not None or ready(port), 60), log.read_text()
        with _held(port) as first, _held(port):
            with socket.create_connection(("127.0.0.1", port)) as third:
                third.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = _read_all(third, 10)
            assert answer.startswith(b"HTTP/1.1 503 "), answer
            assert b"retry-after: 7\r\n" in answer
            assert b"connection: close" in answer
            # The held connections are still served.
            assert _get_healthz(first).startswith(b"HTTP/1.1 200 ")
        # Once they are gone, newcomers are served again.
        assert until(lambda: ready(port), 10), log.read_text()
    assert "more than 2 connections or requests; answered 503" in log.read_text()
