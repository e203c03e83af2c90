"""Where a group's runtime stands in each partition it holds, kept to the offsets PostgreSQL stores.

PostgreSQL, not Kafka, decides where reading starts: on every assignment the stored offsets of
the assigned partitions are read (claimed, for partitions the group never read) and the
consumer is sought to them. :class:`Positions` keeps the next offset of each partition held;
a batch whose records were read from other positions is stale and must not be applied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import IllegalStateError
from aiokafka.structs import TopicPartition

from consumers.engine import offsets
from consumers.engine.connection import TRANSIENT, GroupConnection
from consumers.engine.decode import Batch

log = logging.getLogger(__name__)


class Positions:
    """The next offset to apply in each partition held, and whether they must be read again.

    ``lock`` is held while a batch is applied and while offsets are read again: a revocation
    waits for the batch in flight to commit or roll back before the partitions change hands.
    The state changes only through the methods below.
    """

    def __init__(self, group_name: str, group_id: str, connection: GroupConnection) -> None:
        self.lock = asyncio.Lock()
        self._next: dict[TopicPartition, int] = {}
        self._needs_resync = False
        self.group_name = group_name
        self._group_id = group_id
        self._connection = connection

    @property
    def next(self) -> Mapping[TopicPartition, int]:
        """The next offset to apply in each partition held."""
        return self._next

    @property
    def needs_resync(self) -> bool:
        """True when the stored offsets must be read again before anything else is applied."""
        return self._needs_resync

    def invalidate(self) -> None:
        """Records were fetched or a batch failed: read the stored offsets again before going on."""
        self._needs_resync = True

    def accepts(self, batch: Batch) -> bool:
        """True when ``batch`` was read from the positions held now and no resync is pending.

        Called under ``lock``; a batch it refuses also marks the positions for a resync.
        """
        if self._needs_resync or any(
            self._next.get(TopicPartition(m.topic, m.partition)) != m.expected for m in batch.moves
        ):
            self._needs_resync = True
            return False
        return True

    def committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        """``offsets`` are stored: a batch up to them committed."""
        self._next.update(offsets)

    async def resync(self, consumer: AIOKafkaConsumer) -> None:
        """Read the stored offsets of every assigned partition and seek to them."""
        async with self.lock:
            self._needs_resync = True
            assigned = sorted(consumer.assignment())
            if not assigned:
                self._next = {}
                self._needs_resync = False
                return
            try:
                starts = await consumer.beginning_offsets(assigned)
                conn = await self._connection.get()
                stored = await offsets.claim(conn, self._group_id, starts)
            except TRANSIENT:
                await self._connection.drop()
                raise
            try:
                for tp, offset in stored.items():
                    consumer.seek(tp, offset)
            except IllegalStateError:
                return  # the assignment changed meanwhile; the next rebalance resyncs
            self._next = stored
            self._needs_resync = False
            log.info(
                "group %s: reading %s",
                self.group_name,
                ", ".join(f"{tp.topic}[{tp.partition}]@{o}" for tp, o in sorted(stored.items())),
            )

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        """``partitions`` were taken away (called under ``lock``)."""
        for tp in partitions:
            self._next.pop(tp, None)

    def listener(self, consumer: AIOKafkaConsumer) -> ConsumerRebalanceListener:
        """The rebalance listener that keeps these positions in step with the assignment."""
        return _Rebalance(self, consumer)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, positions: Positions, consumer: AIOKafkaConsumer) -> None:
        self.positions = positions
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.positions.lock:
            self.positions.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.positions.invalidate()
        try:
            await self.positions.resync(self.consumer)
        except Exception as exc:
            # The runtime's loop retries before it reads anything, with a backoff.
            log.warning(
                "group %s: stored offsets not read on assignment (%r)",
                self.positions.group_name,
                exc,
            )
