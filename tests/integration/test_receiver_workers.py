"""`drip-bridge serve` with several worker processes: each starts its own producer, and every
event answered 200, whichever worker took it, is in Kafka."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
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

pytestmark = pytest.mark.integration

WORKERS = 2


def _until(check: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The CLI's receiver with WORKERS workers: its port and its log file."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIP_")}
    env |= {
        "DRIP_HTTP_PORT": str(port),
        "DRIP_HTTP_WORKERS": str(WORKERS),
        "DRIP_WEBHOOK_SECRETS": TEST_SECRET,
        "DRIP_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DRIP_TOPIC_PREFIX": settings.topic_prefix,
        "DRIP_GROUP_ID_PREFIX": settings.group_id_prefix,
        "DRIP_TOPIC_PARTITIONS": str(settings.topic_partitions),
    }
    log = tmp_path / "serve.log"
    cli = Path(sys.executable).with_name("drip-bridge")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(cli), "serve"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield port, log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def _stored(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()


def test_workers_each_publish_and_every_answered_event_is_stored(
    settings: Settings, served: tuple[int, Path]
) -> None:
    port, log = served

    def started() -> bool:
        return log.read_text().count("Application startup complete") == WORKERS

    assert _until(lambda: started() and _ready(port), 60), log.read_text()
    events = [make_event("member.points.awarded", id=f"evt-w-{i}") for i in range(40)]
    answers = []
    for event in events:
        body = pretty_body(event)
        # A connection per request, so the kernel may hand them to either worker.
        answers.append(
            httpx.post(
                f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
                content=body,
                headers={"Content-Type": "application/json", "X-Drip-Signature": sign(body)},
                timeout=30,
            )
        )
    assert [a.status_code for a in answers] == [200] * len(events), [a.text for a in answers]
    topic = contract.topic_for(settings.topic_prefix, "member.points.awarded")
    assert {a.json()["topic"] for a in answers} == {topic}
    assert asyncio.run(_stored(settings, topic)) == len(events)
