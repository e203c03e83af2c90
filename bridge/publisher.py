"""The one Kafka producer of a receiver process, shared by every request.

Delivery guarantee: :meth:`Publisher.publish` returns only once the broker has acknowledged
the record with ``acks=all`` (awaiting aiokafka's send future is awaiting the ack: see
docs/performance.md, "Publisher"); anything else raises. The producer is idempotent, so its own
retries add no duplicates. A publish that times out may still reach Kafka later (the producer
keeps retrying the batch); the sender was told 503, or the record was spooled, and consumers
count each event id once.

aiokafka's producer sends from one background task; if that task ends (an error it does not
expect), the producer accepts records it will never send. The publisher watches that task and
starts a new producer when it ends, answering 503 meanwhile, so a receiver never keeps saying
ready while nothing reaches Kafka.

Concurrent requests share the producer; their records are handed to it in waves, one per
``linger_ms`` window (:mod:`bridge.waves`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner, murmur2

from bridge.ingest import Record
from bridge.waves import Waves
from core.errors import PublishTimeout, ServiceUnavailable
from core.settings import Settings

log = logging.getLogger(__name__)

_BROKEN_PRODUCER = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)
"""Producer-state errors after which only a new producer (a new producer id) can send."""

# Between attempts to start a replacement producer while Kafka does not answer.
_RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


class Ack(NamedTuple):
    """Where Kafka stored an acknowledged record."""

    partition: int
    offset: int


class KeyPartitioner:
    """aiokafka's default partitioning (murmur2 of the key, as Java clients do), memoized.

    aiokafka's murmur2 is pure Python and costs about as much as verifying a signature;
    members send many events, so most keys repeat.
    """

    _MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}
        self._default = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(self._default(key, all_partitions, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._MAX_KEYS:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


class Publisher:
    """Publishes records and waits for Kafka's acknowledgement, within a time limit."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timeout_s = settings.publish_timeout_s
        self._waves = Waves(
            settings.linger_ms / 1000, self._send, settings.publish_timeout_s, self._too_late
        )
        self._producer: AIOKafkaProducer | None = None
        self._stopping = False
        self._replacing: asyncio.Task[None] | None = None
        self.restarts = 0

    async def start(self) -> None:
        """Connect the producer; ServiceUnavailable when Kafka does not answer."""
        self._producer = await self._new_producer()

    async def _new_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            client_id="drip-bridge-receiver",
            acks="all",
            enable_idempotence=True,
            # The lingering happens in Waves, across partitions; see there.
            linger_ms=0,
            partitioner=KeyPartitioner(),
            # Any body under max_body_bytes, with its key and headers, fits in one request.
            max_request_size=self._settings.max_record_bytes,
        )
        try:
            await producer.start()
        except asyncio.CancelledError:  # a start-up deadline passed: leave no half-open client
            await producer.stop()
            raise
        except KafkaError as exc:
            await producer.stop()
            raise ServiceUnavailable(
                f"cannot reach Kafka at {self._settings.kafka_bootstrap_servers} ({exc}); "
                "start it (drip-bridge local start) or fix DRIP_KAFKA_BOOTSTRAP_SERVERS"
            ) from exc
        # aiokafka keeps its sender task private; without it there is nothing to watch.
        sender_task = getattr(getattr(producer, "_sender", None), "sender_task", None)
        if isinstance(sender_task, asyncio.Task):
            sender_task.add_done_callback(functools.partial(self._sender_ended, producer))
        return producer

    def _sender_ended(self, producer: AIOKafkaProducer, task: asyncio.Task[Any]) -> None:
        if self._stopping or producer is not self._producer:
            return
        reason = "cancelled" if task.cancelled() else repr(task.exception())
        log.error("the Kafka producer stopped sending (%s); starting a new one", reason)
        self._producer = None  # publishes answer 503 until the new producer runs
        self._replacing = asyncio.get_running_loop().create_task(self._replace(producer))

    async def _replace(self, old: AIOKafkaProducer) -> None:
        with contextlib.suppress(Exception):
            await old.stop()
        attempt = 0
        while not self._stopping:
            try:
                producer = await self._new_producer()
            except Exception as exc:  # whatever it is, the receiver must not stay without one
                delay = _RESTART_BACKOFF_S[min(attempt, len(_RESTART_BACKOFF_S) - 1)]
                log.warning("no new Kafka producer (%s); trying again in %.1f s", exc, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if self._stopping:
                await producer.stop()
                return
            self._producer = producer
            self.restarts += 1
            log.info("a new Kafka producer is running")
            return

    async def stop(self) -> None:
        """Flush what is buffered and close the producer."""
        self._stopping = True
        if self._replacing is not None:
            self._replacing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replacing
        await self._waves.drain()
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
            meta = await self._waves.submit(record)
        except KafkaError as exc:
            if isinstance(exc, _BROKEN_PRODUCER) and producer is self._producer:
                # After batches expired during an outage the idempotent producer's sequence no
                # longer matches the broker's: every later send would fail the same way.
                self._replace_broken(producer, exc)
            raise ServiceUnavailable(f"Kafka refused the record: {exc!r}") from exc
        return Ack(meta.partition, meta.offset)

    def _replace_broken(self, producer: AIOKafkaProducer, exc: KafkaError) -> None:
        log.error("the Kafka producer's state is broken (%r); starting a new one", exc)
        self._producer = None  # publishes answer 503 (or spool) until the new producer runs
        self._replacing = asyncio.get_running_loop().create_task(self._replace(producer))

    def _too_late(self) -> PublishTimeout:
        # A record whose wave has not left yet is not sent; one handed over may still land.
        return PublishTimeout(f"Kafka did not acknowledge within {self._timeout_s:g} s")

    async def _send(self, record: Record) -> asyncio.Future[Any]:
        producer = self._producer
        if producer is None:
            raise ServiceUnavailable("the Kafka producer is not running")
        delivery: asyncio.Future[Any] = await producer.send(
            record.topic, record.value, key=record.key, headers=record.headers
        )
        return delivery

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
