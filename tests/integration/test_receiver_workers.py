"""`drip-bridge serve` with several worker processes: each starts its own producer, and every
event answered 200, whichever worker took it, is in Kafka."""

from __future__ import annotations

import asyncio
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

WORKERS = 2


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The CLI's receiver with WORKERS workers: its port and its log file."""
    port = free_port()
    env = process_env(
        settings,
        DRIP_HTTP_PORT=str(port),
        DRIP_HTTP_WORKERS=str(WORKERS),
        DRIP_WEBHOOK_SECRETS=TEST_SECRET,
    )
    log = tmp_path / "serve.log"
    with serve_process(env, log):
        yield port, log


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

    assert until(lambda: started() and ready(port), 60), log.read_text()
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
