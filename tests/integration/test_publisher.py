"""The receiver's producer against real Kafka: where keyed records land, and refusing to start.

Consumers rely on a member's events sitting on the same partition number of every topic, and
topics written before keep their layout only if the partitioning never changes: records must
land where Java clients (and aiokafka) put them, murmur2 of the key.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka.partitioner import murmur2

from bridge.ingest import Record
from bridge.publisher import Publisher
from bridge.topics import ensure_topics
from dripbridge.errors import ServiceUnavailable
from dripbridge.settings import Settings
from tests.ports import free_port_pair

pytestmark = pytest.mark.integration


def _record(topic: str, key: bytes | None, n: int) -> Record:
    return Record(topic, key, b'{"n": %d}' % n, [("drip-event-id", b"e%d" % n)], f"e{n}", "x")


async def test_keyed_records_land_on_the_murmur2_partition(kafka_settings: Settings) -> None:
    settings = kafka_settings.model_copy(update={"topic_partitions": 6})
    topics = [f"test-{uuid.uuid4().hex[:12]}.{name}" for name in ("a", "b")]
    await ensure_topics(settings, topics)
    publisher = Publisher(settings)
    await publisher.start()
    try:
        landed = {
            (topic, key): (await publisher.publish(_record(topic, key, n))).partition
            for n, key in enumerate(f"realm-1:member-{m}".encode() for m in range(60))
            for topic in topics
        }
        unkeyed = await publisher.publish(_record(topics[0], None, 999))
    finally:
        await publisher.stop()
    for (_, key), partition in landed.items():
        assert partition == (murmur2(key) & 0x7FFFFFFF) % 6, key
    assert len(set(landed.values())) == 6  # the keys spread over every partition
    assert 0 <= unkeyed.partition < 6


async def test_start_refuses_when_kafka_does_not_answer(kafka_settings: Settings) -> None:
    settings = kafka_settings.model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port_pair()}",
            "publish_timeout_s": 1.0,
        }
    )
    publisher = Publisher(settings)
    with pytest.raises(ServiceUnavailable, match="cannot reach Kafka"):
        await publisher.start()
    with pytest.raises(ServiceUnavailable, match="not running"):
        await publisher.publish(_record("t", b"k", 1))
