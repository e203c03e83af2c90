"""An in-memory stand-in for Kafka: partitioned logs, and a consumer the test rebalances.

Modelled on arroyo's local backend (a ``LocalBroker`` over ``MemoryMessageStorage``): enough of
a broker to run :class:`consumers.engine.loop.GroupRuntime` without Kafka, so that assignment,
revocation and retries can be unit-tested with the test, not a group coordinator, deciding when
partitions change hands.

:class:`StandinConsumer` has the part of ``AIOKafkaConsumer`` the runtime uses, with aiokafka's
semantics where the runtime relies on them:

- Rebalances are eager, as aiokafka's: every partition held is revoked (the listener's
  ``on_partitions_revoked`` awaited, the assignment unchanged meanwhile), then the new assignment
  is set and ``on_partitions_assigned`` awaited. A listener that raises is logged, as aiokafka
  logs it, and the rebalance goes on.
- A newly assigned partition has no fetch position until sought; its first fetch starts at the
  group's offset committed to this broker, else at the log start (``auto_offset_reset=
  "earliest"``). A position outside the log (retention moved the log start past it) is reset to
  the log start.
- ``seek`` and ``commit`` of a partition not held raise ``IllegalStateError``.
- ``getmany`` returns at most ``max_records`` records, taking partitions in turn, and waits up to
  ``timeout_ms`` for records when there are none.
- ``highwater`` is None until the partition has been fetched from.

Offsets are list indices; records before a partition's log start are gone (retention).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka import ConsumerRebalanceListener
from aiokafka.errors import IllegalStateError
from aiokafka.structs import TopicPartition

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Record:
    """A record of a partition: the fields of aiokafka's ``ConsumerRecord`` the runtime reads."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp: int


@dataclass(slots=True)
class _Log:
    records: list[Record] = field(default_factory=list)
    start: int = 0


class Broker:
    """Topics of partitioned in-memory logs, and the offsets each group committed to them."""

    def __init__(self) -> None:
        self._logs: dict[TopicPartition, _Log] = {}
        self.committed: dict[str, dict[TopicPartition, int]] = {}
        self._arrived = asyncio.Event()

    def create_topic(self, topic: str, partitions: int) -> list[TopicPartition]:
        """Create ``topic`` with ``partitions`` empty partitions; returns them."""
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        for tp in tps:
            if tp in self._logs:
                raise ValueError(f"{tp} exists already")
            self._logs[tp] = _Log()
        return tps

    def partitions(self, topics: Iterable[str]) -> set[TopicPartition]:
        """Every partition of ``topics``."""
        wanted = set(topics)
        return {tp for tp in self._logs if tp.topic in wanted}

    def produce(
        self,
        tp: TopicPartition,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> Record:
        """Append a record to ``tp`` (which must exist) and wake the consumers waiting."""
        log_ = self._log(tp)
        record = Record(
            tp.topic,
            tp.partition,
            len(log_.records),
            value,
            key,
            tuple(headers),
            int(time.time() * 1000),
        )
        log_.records.append(record)
        self.wake()
        return record

    def log_start(self, tp: TopicPartition) -> int:
        """The first offset still in ``tp``."""
        return self._log(tp).start

    def end_offset(self, tp: TopicPartition) -> int:
        """The offset the next record of ``tp`` will get (Kafka's high-water mark)."""
        return len(self._log(tp).records)

    def delete_before(self, tp: TopicPartition, offset: int) -> None:
        """Retention: records of ``tp`` before ``offset`` are gone (``offset`` up to the end)."""
        log_ = self._log(tp)
        if not log_.start <= offset <= len(log_.records):
            raise ValueError(f"{tp}: log start {offset} outside {log_.start}..{len(log_.records)}")
        log_.start = offset
        self.wake()

    def read(self, tp: TopicPartition, offset: int, limit: int) -> list[Record]:
        """Up to ``limit`` records of ``tp`` from ``offset``, which must be in the log."""
        log_ = self._log(tp)
        if not log_.start <= offset <= len(log_.records):
            raise ValueError(f"{tp}: offset {offset} outside {log_.start}..{len(log_.records)}")
        return log_.records[offset : offset + limit]

    def wake(self) -> None:
        """Wake the consumers waiting in ``getmany``: records came, or an assignment changed."""
        self._arrived.set()
        self._arrived = asyncio.Event()

    async def wait_for_records(self, timeout_s: float) -> None:
        """Return when :meth:`wake` is called, or after ``timeout_s``."""
        if timeout_s > 0:
            arrived = self._arrived
            try:
                await asyncio.wait_for(arrived.wait(), timeout_s)
            except TimeoutError:
                return

    def _log(self, tp: TopicPartition) -> _Log:
        try:
            return self._logs[tp]
        except KeyError:
            raise ValueError(f"{tp} does not exist; create its topic first") from None


class StandinConsumer:
    """The part of ``AIOKafkaConsumer`` the runtime uses, over a :class:`Broker`.

    The test assigns partitions with :meth:`rebalance`. ``seeks`` and ``commits`` record what
    the runtime asked for, in order; ``listened`` the listener calls that have returned.
    """

    def __init__(self, broker: Broker, group_id: str) -> None:
        self.broker = broker
        self.group_id = group_id
        self.topics: tuple[str, ...] = ()
        self.subscribed = asyncio.Event()
        self.started = False
        self.stopped = False
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.commits: list[dict[TopicPartition, int]] = []
        self.listened: list[tuple[str, set[TopicPartition]]] = []
        self._listener: ConsumerRebalanceListener | None = None
        self._assigned: frozenset[TopicPartition] = frozenset()
        self._positions: dict[TopicPartition, int] = {}
        self._fetched: set[TopicPartition] = set()
        self._turn = 0

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True
        self._assigned = frozenset()
        self._positions.clear()

    def subscribe(
        self, topics: Sequence[str], listener: ConsumerRebalanceListener | None = None
    ) -> None:
        self.topics = tuple(topics)
        self._listener = listener
        self.subscribed.set()

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    async def rebalance(self, assigned: Iterable[TopicPartition]) -> None:
        """An eager rebalance that hands this member ``assigned``; returns once the listener has
        seen both the revocation and the new assignment."""
        new = frozenset(assigned)
        unknown = {tp for tp in new if tp.topic not in self.topics}
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not of the subscribed topics {self.topics}")
        await self._call("on_partitions_revoked", set(self._assigned))
        self._assigned = new
        self._positions.clear()
        self._fetched.clear()
        self.broker.wake()
        await self._call("on_partitions_assigned", set(new))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if offset < 0:
            raise ValueError(f"offset must be 0 or more, not {offset}")
        self._held(tp)
        self.seeks.append((tp, offset))
        self._positions[tp] = offset

    async def beginning_offsets(
        self, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]:
        return {tp: self.broker.log_start(tp) for tp in partitions}

    def highwater(self, tp: TopicPartition) -> int | None:
        self._held(tp)
        return self.broker.end_offset(tp) if tp in self._fetched else None

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]:
        if partitions:
            raise NotImplementedError("the runtime fetches from every partition held")
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            fetched = self._take(max_records)
            remaining = deadline - time.monotonic()
            if fetched or remaining <= 0:
                return fetched
            await self.broker.wait_for_records(remaining)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        for tp in offsets:
            self._held(tp)
        self.commits.append(dict(offsets))
        self.broker.committed.setdefault(self.group_id, {}).update(offsets)

    def position(self, tp: TopicPartition) -> int:
        """The next offset :meth:`getmany` reads from ``tp``, resolving it as aiokafka would."""
        self._held(tp)
        position = self._positions.get(tp)
        if position is None:
            position = self.broker.committed.get(self.group_id, {}).get(tp)
        start, end = self.broker.log_start(tp), self.broker.end_offset(tp)
        if position is None or not start <= position <= end:
            position = start
        self._positions[tp] = position
        return position

    def _take(self, max_records: int | None) -> dict[TopicPartition, list[Record]]:
        held = sorted(self._assigned)
        if not held:
            return {}
        self._turn = (self._turn + 1) % len(held)
        left = max_records if max_records is not None else 500  # aiokafka's max_poll_records
        fetched: dict[TopicPartition, list[Record]] = {}
        for tp in held[self._turn :] + held[: self._turn]:
            self._fetched.add(tp)
            records = self.broker.read(tp, self.position(tp), left)
            if records:
                fetched[tp] = records
                self._positions[tp] = records[-1].offset + 1
                left -= len(records)
            if not left:
                break
        return fetched

    def _held(self, tp: TopicPartition) -> None:
        if tp not in self._assigned:
            raise IllegalStateError(f"No current assignment for partition {tp}")

    async def _call(self, method: str, partitions: set[TopicPartition]) -> None:
        if self._listener is None:
            return
        try:
            await getattr(self._listener, method)(partitions)
        except Exception:
            log.exception("rebalance listener failed in %s", method)
        self.listened.append((method, partitions))
