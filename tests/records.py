"""Records written to Kafka the way the receiver writes them (contract key and headers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from core import contract
from core.settings import Settings
from core.topics import ensure_topics

Raw = tuple[str, bytes]
"""An event type and a body that is not a JSON object (or not JSON), sent as is."""


def record_for(
    prefix: str, event: Mapping[str, Any] | Raw
) -> tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]:
    """(topic, key, value, headers) for a payload, as the receiver would publish it."""
    if isinstance(event, tuple):
        event_type, value = event
        key = None
        event_id = contract.event_identity({"raw": value.hex()})
        realm = None
    else:
        event_type = str(event.get("type", ""))
        value = orjson.dumps(event)
        key = contract.key_for(event)
        event_id = contract.event_identity(event)
        realm = contract.realm_id_of(event)
    headers = contract.build_headers(event_id, event_type, realm, datetime.now(UTC), "raw")
    return contract.topic_for(prefix, event_type), key, value, headers


async def produce(settings: Settings, events: Iterable[Mapping[str, Any] | Raw]) -> int:
    """Publish ``events`` in order (per key) under ``settings.topic_prefix``; returns how many.

    Missing contract topics are created first, as the receiver does when it starts.
    """
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    sent = 0
    try:
        futures = []
        for event in events:
            topic, key, value, headers = record_for(settings.topic_prefix, event)
            futures.append(await producer.send(topic, value, key=key, headers=headers))
            sent += 1
        for future in futures:
            await future
    finally:
        await producer.stop()
    return sent
