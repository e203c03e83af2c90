"""`drip-bridge send-test` against the real receiver on a free port, backed by real Kafka:
every sample it sends is accepted and sits in its topic under the identity it printed."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from typer.testing import CliRunner

from core.contract import Envelope, event_identity, topic_for
from core.settings import Settings
from dripbridge.cli import app
from tests.factories import TEST_SECRET
from tests.receivers import serving

pytestmark = pytest.mark.integration

_LINE = re.compile(r"^\[\d+/\d+\] HTTP (\d+) (\S+) id=(\S+) receiver: (.*)$", re.MULTILINE)


@pytest.fixture
def receiver(settings: Settings) -> Iterator[str]:
    """The real receiver app under uvicorn in a thread; yields its webhook URL."""
    with serving(settings) as url:
        yield url


async def _record_at(settings: Settings, topic: str, partition: int, offset: int) -> ConsumerRecord:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        batches = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
        (record,) = batches[tp]
        return record
    finally:
        await consumer.stop()


@pytest.mark.parametrize(
    ("event_type", "count"), [("member.points.awarded", 3), ("app.badge.earned", 1)]
)
def test_send_test_events_land_in_kafka(
    settings: Settings, receiver: str, event_type: str, count: int, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app,
        ["send-test", event_type, "--count", str(count), "--url", receiver, "--member", "m-42"],
        env={"DRIP_WEBHOOK_SECRETS": TEST_SECRET},
    )

    assert result.exit_code == 0, result.output
    lines = _LINE.findall(result.stdout)
    assert len(lines) == count
    events = []
    for status, printed_type, identity, answer in lines:
        assert (status, printed_type) == ("200", event_type)
        reply = json.loads(answer)
        assert reply["event_id"] == identity
        assert reply["topic"] == topic_for(settings.topic_prefix, event_type)
        record = asyncio.run(
            _record_at(settings, reply["topic"], reply["partition"], reply["offset"])
        )
        envelope = Envelope.from_record(
            record.topic, record.partition, record.offset, record.value, record.headers
        )
        event = json.loads(envelope.value)
        assert (envelope.event_id, envelope.event_type) == (identity, event_type)
        assert event_identity(event) == identity
        assert record.key == b"m-42"
        events.append(event)
    if event_type == "member.points.awarded":
        balances = [e["data"]["newBalance"] for e in events]
        assert balances == sorted(set(balances))
