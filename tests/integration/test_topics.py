"""Topics are created with the layout of the settings, and existing ones are brought in line."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from core import contract
from core.settings import Settings
from core.topics import ConfigChange, align_topics, describe_topic_configs, ensure_topics

pytestmark = pytest.mark.integration


async def _configs(bootstrap_servers: str, topic: str) -> dict[str, str]:
    """The configs in effect on ``topic``, whatever their source."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        entries = (await describe_topic_configs(admin, [topic]))[topic]
    finally:
        await admin.close()
    return {e["config_names"]: e["config_value"] for e in entries}


async def test_created_topics_follow_the_single_broker(settings: Settings) -> None:
    # Replication unset: the shared test broker is one node, so one replica, one in sync.
    assert settings.topic_replication_factor is None
    created = await ensure_topics(settings)
    assert sorted(created) == sorted(contract.topics(settings.topic_prefix))
    configs = await _configs(settings.kafka_bootstrap_servers, created[0])
    assert configs["min.insync.replicas"] == "1"
    assert configs["retention.ms"] == str(settings.topic_retention_ms)
    assert configs["max.message.bytes"] == str(settings.max_record_bytes)
    # Freshly created topics are already in line.
    assert await align_topics(settings) == ([], [])


async def test_existing_topics_are_brought_in_line_keeping_other_configs(
    settings: Settings,
) -> None:
    topic = f"{settings.topic_prefix}.other"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    topic,
                    1,
                    1,
                    topic_configs={
                        "retention.ms": "604800000",
                        "max.message.bytes": "100000",
                        "segment.ms": "3600000",
                    },
                )
            ]
        )
        # A created topic shows in metadata a moment after the controller commits it.
        for _ in range(100):
            if topic in await admin.list_topics():
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()

    changes, shortfalls = await align_topics(settings, [topic, f"{topic}-missing"])
    assert changes == [
        ConfigChange(topic, "max.message.bytes", "100000", str(settings.max_record_bytes)),
        ConfigChange(topic, "retention.ms", "604800000", str(settings.topic_retention_ms)),
    ]
    assert shortfalls == []
    configs = await _configs(settings.kafka_bootstrap_servers, topic)
    assert configs["retention.ms"] == str(settings.topic_retention_ms)
    assert configs["max.message.bytes"] == str(settings.max_record_bytes)
    assert configs["segment.ms"] == "3600000"  # set on the topic, not ours: kept
    assert await align_topics(settings, [topic]) == ([], [])

    # Wanting three replicas of a one-replica topic: named, and min.insync.replicas stays at
    # what its one replica allows rather than refusing every write.
    wanting_three = settings.model_copy(update={"topic_replication_factor": 3})
    changes, shortfalls = await align_topics(wanting_three, [topic])
    assert changes == []
    assert [(s.topic, s.replicas, s.wanted) for s in shortfalls] == [(topic, 1, 3)]
