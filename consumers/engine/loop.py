"""The loop that runs one consumer group: Kafka in, PostgreSQL out, offsets with the effects.

It uses aiokafka directly rather than FastStream because exactness needs control over offsets
that a subscriber framework keeps to itself: on every assignment each partition is sought to
the offset stored in PostgreSQL, batches are taken at our size, and Kafka's own committed
offsets never decide where reading starts. They are still committed, after PostgreSQL and best
effort, so Kafka's tools show the group's lag.

Delivery guarantee: exactly-once effects. A batch's effects, its dead letters and its next
offsets commit in one transaction (:func:`consumers.engine.commit.apply_batch`); the offsets are
compare-and-set, so a process that lost its partitions (a zombie, a rebalance in flight)
cannot commit a batch another process already applied. On any Kafka or PostgreSQL failure the
batch is dropped, stored offsets are read again and the partitions sought back to them, after
an exponential backoff: a record is never skipped, and never applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg.errors
from aiokafka import AIOKafkaConsumer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from consumers.api import ConsumerGroup
from consumers.engine import lag
from consumers.engine.commit import BatchApplier, Outcome
from consumers.engine.connection import TRANSIENT, Backoff, GroupConnection
from consumers.engine.decode import assemble
from consumers.engine.kafka_commits import KafkaCommits
from consumers.engine.metrics import ConsumerMetrics
from consumers.engine.positions import Positions
from core.away import Absence
from core.errors import ConfigError
from core.settings import Settings

log = logging.getLogger(__name__)


class GroupRuntime:
    """Runs one :class:`ConsumerGroup` until ``stop`` is set.

    Several processes may run the same group: Kafka splits the partitions between them, and
    the stored offsets decide where each one reads. ``schema`` is handed to
    :func:`apply_batch` (shadow tables for replay); live runs leave it None.
    ``consumer_factory`` makes the Kafka consumer, once per connection attempt; it defaults to
    aiokafka's (tests hand in an in-memory stand-in, ``tests/kafka_standin.py``).
    """

    def __init__(
        self,
        group: ConsumerGroup[Any],
        settings: Settings,
        metrics: ConsumerMetrics | None = None,
        *,
        schema: str | None = None,
        consumer_factory: Callable[[], AIOKafkaConsumer] | None = None,
    ) -> None:
        self.group = group
        self._new_consumer = consumer_factory or self._kafka_consumer
        self.settings = settings
        self.metrics = metrics or ConsumerMetrics()
        self._db = GroupConnection(settings, group.name)
        self._group_id = group.group_id(settings)
        self._pos = Positions(group.name, self._group_id, self._db)
        self._backoff = Backoff()
        self._absence = Absence(f"group {group.name}: Kafka or PostgreSQL")
        self._kafka = KafkaCommits(group.name)
        self._inflight_moves: dict[TopicPartition, int] = {}
        self._lag = lag.LagReporter(group.name, self.metrics)
        self._applier = BatchApplier(group, settings, self._db, self._pos, self.metrics, schema)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in flight finishes or rolls back first."""
        try:
            consumer = await self._start(stop)
            if consumer is None:
                return
            try:
                await self._consume(consumer, stop)
                await self._kafka.settled()
                await self._observe_lag(consumer, force=True)
                await self._kafka.moved(consumer, {}, force=True)
            finally:
                await self._kafka.settled(cancel=True)
                await consumer.stop()
        except psycopg.errors.UndefinedTable as exc:
            raise ConfigError(
                f"group {self.group.name}: {exc.diag.message_primary}; "
                "apply the migrations first (drip-bridge migrate)"
            ) from exc
        finally:
            await self._db.drop()

    async def _start(self, stop: asyncio.Event) -> AIOKafkaConsumer | None:
        while not stop.is_set():
            consumer = self._new_consumer()
            try:
                await consumer.start()
            except KafkaError as exc:
                await consumer.stop()
                await self._pause(stop, "connecting to Kafka", exc)
                continue
            topics = self.group.topics(self.settings.topic_prefix)
            consumer.subscribe(topics, listener=self._pos.listener(consumer))
            log.info("group %s consuming %s", self.group.name, ", ".join(topics))
            return consumer
        return None

    def _kafka_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self._group_id,
            client_id=f"drip-bridge-{self.group.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.settings.batch_max_records,
            # Range hands each process the same partition numbers of every topic (the
            # topics share a partition count), so a member's events of all types are
            # applied by one process. One assignor only: aiokafka 0.14 sends a JoinGroup
            # per listed assignor, each with different metadata, and two processes doing
            # so kept the group rebalancing without end (aio-libs/aiokafka#1168). So a
            # process of a release that used round robin alone shares no protocol with
            # this one: stop those before starting these.
            partition_assignment_strategy=(RangePartitionAssignor,),
        )

    async def _consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        """Fetch and map the next batch while PostgreSQL applies the previous one.

        Batches still commit one at a time and in order: the next one is mapped against the
        offsets the batch in flight will store, and is dropped (then read again) if that batch
        does not commit.
        """
        inflight: asyncio.Task[Outcome] | None = None
        try:
            while not stop.is_set():
                if inflight is not None and inflight.done():
                    await self._settle(consumer, stop, inflight.result())
                    inflight = None
                if self._pos.needs_resync:
                    if inflight is not None:
                        await self._settle(consumer, stop, await inflight)
                        inflight = None
                    try:
                        await self._pos.resync(consumer)
                    except TRANSIENT as exc:
                        await self._pause(stop, "reading stored offsets", exc)
                        continue
                try:
                    fetched = await consumer.getmany(
                        timeout_ms=self.settings.batch_max_wait_ms,
                        max_records=self.settings.batch_max_records,
                    )
                except KafkaError as exc:
                    await self._pause(stop, "fetching records", exc)
                    continue
                if not fetched:
                    if inflight is None:
                        await self._observe_lag(consumer)
                    continue
                ahead = dict(self._pos.next)
                if inflight is not None:
                    ahead.update(self._inflight_moves)
                # In a thread: the batch in flight keeps talking to PostgreSQL meanwhile.
                batch = await asyncio.to_thread(assemble, self.group, fetched, ahead, self.settings)
                if inflight is not None:
                    await self._settle(consumer, stop, await inflight)
                    inflight = None
                if batch.moves and not self._pos.needs_resync:
                    self._inflight_moves = batch.next_offsets()
                    sent = asyncio.Event()
                    inflight = asyncio.create_task(self._applier.apply(batch, sent))
                    # Fetching and mapping the next batch keep the interpreter busy: start
                    # them once this batch's statements are on their way, so that PostgreSQL
                    # works on those meanwhile rather than waiting for them to be sent.
                    await sent.wait()
                elif batch.moves:
                    self._pos.invalidate()  # its records were fetched: they must be re-read
        finally:
            if inflight is not None:
                await self._settle(consumer, stop, await inflight)

    async def _settle(self, consumer: AIOKafkaConsumer, stop: asyncio.Event, done: Outcome) -> None:
        """After a batch: back off on failure, else report lag and commit to Kafka."""
        if done.failure is not None:
            self.metrics.retries.labels(self.group.name).inc()
            await self._pause(stop, "applying a batch", done.failure)
        elif done.committed:
            self._backoff.reset()
            if (line := self._absence.succeeded()) is not None:
                log.info("%s", line)
            await self._observe_lag(consumer)
            await self._kafka.moved(consumer, done.batch.next_offsets())

    async def _pause(self, stop: asyncio.Event, doing: str, exc: BaseException) -> None:
        """Back off after a failure; one line when the trouble starts, then a reminder now and
        then (:class:`core.away.Absence`), not a line per retry."""
        delay = self._backoff.next()
        line = self._absence.failed(f"{doing} failed: {type(exc).__name__}: {exc}")
        if line is not None:
            log.warning("%s; retrying with backoff (now %.1f s)", line, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)

    async def _observe_lag(self, consumer: AIOKafkaConsumer, force: bool = False) -> None:
        """Update the lag gauges; every few seconds (or when forced) the consumer_lag rows too."""
        ends = {tp: consumer.highwater(tp) for tp in consumer.assignment()}
        lags = lag.measure(self._pos.next, ends)
        self._lag.observe(lags)
        if not lags or not self._lag.due(force):
            return
        async with self._pos.lock:
            try:
                await lag.store(await self._db.get(), self._group_id, lags)
            except (psycopg.Error, OSError) as exc:
                # Lag is for people and alerts; failing to report it must not stop consumption.
                log.warning("group %s: consumer_lag not updated (%r)", self.group.name, exc)
