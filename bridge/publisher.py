"""The one Kafka producer of a receiver process, shared by every request.

Delivery guarantee: :meth:`Publisher.publish` returns only once librdkafka's delivery report
says the broker acknowledged the record with ``acks=all``; anything else raises. The producer
is idempotent, so its own retries add no duplicates. A record is given ``publish_timeout_s``
(``message.timeout.ms``) to be acknowledged; librdkafka then reports it failed and never sends
it afterwards, so a 503 normally means the record is not in Kafka. :class:`Deadlines` is the
backstop should a report never come: that publish also gets a 503, and the record may still
arrive later; the sender retries and consumers count each event id once.

Why librdkafka (confluent-kafka) rather than aiokafka for producing: the receiver's cost per
event is mostly the produce path, and librdkafka does batching, partitioning and the protocol
in C. Keys are partitioned with murmur2, as Java clients and aiokafka do, so a member's events
land on the same partition number of every topic whichever client wrote them.

Delivery reports are served by one thread that polls the producer; it hands each poll's
reports to the event loop in one call, so the loop is woken once per produce response rather
than once per record.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import Any, NamedTuple, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from bridge.deadlines import Deadlines
from bridge.ingest import Record
from dripbridge.errors import PublishTimeout, ServiceUnavailable
from dripbridge.settings import Settings

log = logging.getLogger(__name__)

# How long the poll thread waits for a report before checking whether it should stop.
_POLL_S = 0.1
# Time allowed at shutdown for buffered records to be acknowledged.
_FLUSH_S = 10.0


class Ack(NamedTuple):
    """Where Kafka stored an acknowledged record."""

    partition: int
    offset: int


# confluent-kafka types headers as invariant lists of wider values than ours.
_Headers = list[tuple[str, str | bytes | None]]
Report = tuple["asyncio.Future[Ack]", KafkaError | None, int, int]


def producer_config(settings: Settings) -> dict[str, Any]:
    """librdkafka settings of the receiver's producer."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": "drip-bridge-receiver",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": settings.linger_ms,
        "message.timeout.ms": max(1, round(settings.publish_timeout_s * 1000)),
        "partitioner": "murmur2_random",
        "logger": logging.getLogger("bridge.librdkafka"),
    }


class Publisher:
    """Publishes records and waits for Kafka's acknowledgement, within a time limit."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._deadlines = Deadlines(settings.publish_timeout_s)
        self._producer: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: threading.Thread | None = None
        self._stopping = threading.Event()
        self._reports: list[Report] = []
        self._fatal: KafkaError | None = None

    async def start(self) -> None:
        """Connect the producer; ServiceUnavailable when Kafka does not answer."""
        config = producer_config(self._settings) | {"error_cb": self._on_error}
        producer = Producer(config)
        try:
            await asyncio.to_thread(producer.list_topics, timeout=self._settings.publish_timeout_s)
        except KafkaException as exc:
            raise ServiceUnavailable(
                f"cannot reach Kafka at {self._settings.kafka_bootstrap_servers} ({exc}); "
                "start it (drip-bridge local start) or fix DRIP_KAFKA_BOOTSTRAP_SERVERS"
            ) from exc
        self._producer, self._loop = producer, asyncio.get_running_loop()
        self._stopping.clear()
        self._poller = threading.Thread(target=self._poll, name="kafka-reports", daemon=True)
        self._poller.start()
        self._deadlines.start()

    async def stop(self) -> None:
        """Wait for buffered records to be acknowledged, then close the producer."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        self._stopping.set()
        if self._poller is not None:
            await asyncio.to_thread(self._poller.join)
            self._poller = None
        left = await asyncio.to_thread(producer.flush, _FLUSH_S)
        if left:
            log.error("%d records were not acknowledged by Kafka before shutdown", left)
        self._settle(self._take_reports())
        await self._deadlines.stop()

    async def publish(self, record: Record) -> Ack:
        """Send ``record`` and wait for the broker's ack.

        Raises PublishTimeout when no ack comes within ``publish_timeout_s``, and
        ServiceUnavailable when the producer reports an error. Returning means the record
        is in Kafka.
        """
        producer, loop = self._producer, self._loop
        if producer is None or loop is None:
            raise ServiceUnavailable("the Kafka producer is not running")
        acked: asyncio.Future[Ack] = loop.create_future()
        try:
            producer.produce(
                record.topic,
                record.value,
                record.key,
                headers=cast(_Headers, record.headers),
                on_delivery=functools.partial(self._on_delivery, acked),
            )
        except BufferError as exc:
            raise ServiceUnavailable("the Kafka producer's queue is full") from exc
        except KafkaException as exc:
            raise ServiceUnavailable(f"Kafka refused the record: {exc.args[0]}") from exc
        task = asyncio.current_task()
        assert task is not None
        self._deadlines.watch(task)
        try:
            return await acked
        except asyncio.CancelledError:
            if self._deadlines.release(task):
                raise PublishTimeout(
                    f"Kafka did not acknowledge within {self._deadlines.timeout_s:g} s"
                ) from None
            raise
        finally:
            self._deadlines.release(task)

    async def ready(self, timeout_s: float) -> bool:
        """True when the producer works and a broker answers a metadata request in time."""
        producer, poller = self._producer, self._poller
        if producer is None or poller is None or not poller.is_alive() or self._fatal:
            return False
        try:
            await asyncio.to_thread(producer.list_topics, timeout=timeout_s)
        except KafkaException:
            return False
        return True

    def _on_delivery(
        self, acked: asyncio.Future[Ack], err: KafkaError | None, msg: Message
    ) -> None:
        # Runs in the poll thread, inside poll(): only collect.
        self._reports.append((acked, err, msg.partition() or 0, msg.offset() or 0))

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
            log.critical("the Kafka producer failed for good: %s", err)
        else:
            log.warning("Kafka producer: %s", err)

    def _poll(self) -> None:
        producer, loop = self._producer, self._loop
        assert producer is not None and loop is not None
        while not self._stopping.is_set():
            producer.poll(_POLL_S)
            reports = self._take_reports()
            if reports:
                loop.call_soon_threadsafe(self._settle, reports)

    def _take_reports(self) -> list[Report]:
        reports, self._reports = self._reports, []
        return reports

    @staticmethod
    def _settle(reports: list[Report]) -> None:
        for acked, err, partition, offset in reports:
            if acked.done():  # its publish gave up already
                continue
            if err is None:
                acked.set_result(Ack(partition, offset))
            elif err.code() == KafkaError._MSG_TIMED_OUT:
                acked.set_exception(PublishTimeout(f"Kafka did not acknowledge in time ({err})"))
            else:
                acked.set_exception(ServiceUnavailable(f"Kafka refused the record: {err}"))
