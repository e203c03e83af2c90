"""The one Kafka producer of a receiver process, shared by every request.

Delivery guarantee: :meth:`Publisher.publish` returns only once the broker has acknowledged
the record with ``acks=all``; anything else raises. In aiokafka 0.14 the future returned by
``AIOKafkaProducer.send`` is resolved by ``MessageBatch.done`` when the ProduceResponse for
its batch arrives without error (``done_noack`` is used only with ``acks=0``), so awaiting it
is awaiting the broker's ack. The producer is idempotent, so its own retries add no
duplicates. A publish that times out may still reach Kafka later (the producer keeps
retrying the batch); the sender was told 503 and retries, and consumers count each event id
once.

Concurrent requests share the producer, so their records batch together (``linger_ms``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bridge.ingest import Record
from dripbridge.errors import PublishTimeout, ServiceUnavailable
from dripbridge.settings import Settings


class Ack(NamedTuple):
    """Where Kafka stored an acknowledged record."""

    partition: int
    offset: int


class Publisher:
    """Publishes records and waits for Kafka's acknowledgement, within a time limit."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timeout_s = settings.publish_timeout_s
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect the producer; ServiceUnavailable when Kafka does not answer."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            client_id="drip-bridge-receiver",
            acks="all",
            enable_idempotence=True,
            linger_ms=self._settings.linger_ms,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise ServiceUnavailable(
                f"cannot reach Kafka at {self._settings.kafka_bootstrap_servers} ({exc}); "
                "start it (drip-bridge local start) or fix DRIP_KAFKA_BOOTSTRAP_SERVERS"
            ) from exc
        self._producer = producer

    async def stop(self) -> None:
        """Flush what is buffered and close the producer."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def publish(self, record: Record) -> Ack:
        """Send ``record`` and wait for the broker's ack.

        Raises PublishTimeout when no ack comes within ``publish_timeout_s``, and
        ServiceUnavailable when the producer reports an error. Returning means the record
        is in Kafka.
        """
        producer = self._producer
        if producer is None:
            raise ServiceUnavailable("the Kafka producer is not running")
        try:
            # asyncio.timeout rather than wait_for: same deadline, no extra task per request.
            async with asyncio.timeout(self._timeout_s):
                delivery = await producer.send(
                    record.topic, record.value, key=record.key, headers=record.headers
                )
                meta = await delivery
        except TimeoutError:
            raise PublishTimeout(
                f"Kafka did not acknowledge within {self._timeout_s:g} s"
            ) from None
        except KafkaError as exc:
            raise ServiceUnavailable(f"Kafka refused the record: {exc!r}") from exc
        return Ack(meta.partition, meta.offset)

    async def ready(self, timeout_s: float) -> bool:
        """True when a broker answers a metadata request within ``timeout_s``."""
        producer = self._producer
        if producer is None:
            return False
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout_s):
                await producer.client.fetch_all_metadata()
                return True
        return False
