"""Kafka partitions and their offsets, read by a consumer that joins no consumer group.

Status and replay look at a group's topics from outside the group: joining it would take
partitions away from its live processes (a rebalance) and move Kafka's committed offsets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from core.errors import ServiceUnavailable
from core.settings import Settings


def _unavailable(settings: Settings, exc: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Kafka at {settings.kafka_bootstrap_servers} did not answer ({exc!r}); "
        "is it running (drip-bridge local status)?"
    )


@asynccontextmanager
async def outside_consumer(
    settings: Settings, client_id: str, **options: Any
) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer without a group id (no membership, no commits); stopped on exit."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        client_id=client_id,
        enable_auto_commit=False,
        **options,
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise _unavailable(settings, exc) from exc
    try:
        yield consumer
    finally:
        await consumer.stop()


@asynccontextmanager
async def admin_client(settings: Settings, client_id: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client; closed on exit."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id=client_id
    )
    try:
        await admin.start()
    except KafkaError as exc:
        await admin.close()
        raise _unavailable(settings, exc) from exc
    try:
        yield admin
    finally:
        await admin.close()


async def partitions_of(
    admin: AIOKafkaAdminClient, topics: Sequence[str]
) -> tuple[list[TopicPartition], list[str]]:
    """Every partition of ``topics``, sorted, and the topics that do not exist (yet)."""
    if not topics:
        return [], []
    described = {t["topic"]: t for t in await admin.describe_topics(list(topics))}
    found: list[TopicPartition] = []
    missing: list[str] = []
    for topic in topics:
        entry = described.get(topic)
        if entry is None or entry["error_code"] != 0 or not entry["partitions"]:
            missing.append(topic)
            continue
        found.extend(TopicPartition(topic, p["partition"]) for p in entry["partitions"])
    return sorted(found), missing


async def log_bounds(
    consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(log start, end offset) of each partition: the first record kept, the next one written."""
    if not tps:
        return {}, {}
    starts = await consumer.beginning_offsets(list(tps))
    ends = await consumer.end_offsets(list(tps))
    return dict(starts), dict(ends)
