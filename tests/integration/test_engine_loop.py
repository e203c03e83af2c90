"""The consumer loop's assignment, revocation and retries, with Kafka stood in for in memory.

Kafka is :mod:`tests.kafka_standin`, so each test decides when partitions change hands and
where logs start; PostgreSQL is the real test database, since the stored offsets live there.
The group records every event id it applies in a table of the test's own, without a unique
constraint, so that "every record exactly once" is a count.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer
from psycopg import sql

from consumers.api import ConsumerGroup, Event
from consumers.engine import offsets
from consumers.engine.loop import GroupRuntime
from consumers.engine.metrics import ConsumerMetrics
from core import contract
from core.settings import Settings
from tests.kafka_standin import Broker, StandinConsumer
from tests.topics import new_prefix

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]
EVENT_TYPE = "quest.started"
PARTITIONS = 3
WAIT_S = 15.0


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = WAIT_S) -> None:
    """Wait for ``check`` to hold, looking every few milliseconds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


async def stays_pending(task: asyncio.Task[None], seconds: float) -> bool:
    """True when ``task`` is still running after ``seconds`` (it is not cancelled)."""
    try:
        await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        return True
    return False


@dataclass
class Loop:
    """One group run by :class:`GroupRuntime` over a stand-in broker, and what it applied."""

    settings: Settings
    conn: Conn
    table: str
    broker: Broker = field(default_factory=Broker)
    metrics: ConsumerMetrics = field(default_factory=ConsumerMetrics)
    before_apply: Callable[[list[str]], Awaitable[None]] | None = None
    """Awaited by the group's ``apply`` before it writes (to block it, or to make it fail)."""
    mapping_gate: dict[str, tuple[threading.Event, threading.Event]] = field(default_factory=dict)
    """event id -> (reached, release): mapping that event signals, then waits for release."""
    applied_calls: list[list[str]] = field(default_factory=list)
    releases: list[asyncio.Event | threading.Event] = field(default_factory=list)
    """Set when the runtime is stopped, so that a failed test leaves nothing blocked."""

    def __post_init__(self) -> None:
        self.group: ConsumerGroup[str] = ConsumerGroup(
            name="loop",
            event_types=(EVENT_TYPE,),
            tables=(),
            rows_from=self._rows_from,
            apply=self._apply,
        )
        self.group_id = self.group.group_id(self.settings)
        self.topic = contract.topic_for(self.settings.topic_prefix, EVENT_TYPE)
        self.tps = self.broker.create_topic(self.topic, PARTITIONS)
        self.consumer = StandinConsumer(self.broker, self.group_id)
        self._produced = [0] * PARTITIONS

    def _rows_from(self, event: Event, settings: Settings) -> str:
        gate = self.mapping_gate.get(event.event_id)
        if gate is not None:  # mapping runs in a worker thread: block it there
            reached, release = gate
            reached.set()
            release.wait(WAIT_S)
        return event.event_id

    async def _apply(self, conn: Conn, rows: Sequence[str], settings: Settings) -> None:
        if self.before_apply is not None:
            await self.before_apply(list(rows))
        self.applied_calls.append(list(rows))
        await conn.execute(
            sql.SQL("INSERT INTO {} (event_id) SELECT unnest(%s::text[])").format(
                sql.Identifier(self.table)
            ),
            [list(rows)],
        )

    def produce(self, partition: int, count: int) -> list[str]:
        """Publish ``count`` records to ``partition``, as the receiver would; their event ids."""
        ids = []
        for _ in range(count):
            event_id = f"p{partition}-{self._produced[partition]}"
            self._produced[partition] += 1
            value = orjson.dumps({"type": EVENT_TYPE, "realmId": "r", "data": {"id": event_id}})
            headers = contract.build_headers(event_id, EVENT_TYPE, "r", datetime.now(UTC), "raw")
            self.broker.produce(self.tps[partition], value, headers=headers)
            ids.append(event_id)
        return ids

    async def applied(self) -> Counter[str]:
        """How many times each event id was applied."""
        cur = await self.conn.execute(
            sql.SQL("SELECT event_id FROM {}").format(sql.Identifier(self.table))
        )
        return Counter(row[0] for row in await cur.fetchall())

    async def stored(self) -> dict[int, int]:
        """partition -> stored next offset of the group."""
        cur = await self.conn.execute(
            "SELECT partition, next_offset FROM consumer_offsets"
            " WHERE group_id = %s AND topic = %s",
            [self.group_id, self.topic],
        )
        return {p: o for p, o in await cur.fetchall()}

    async def stored_reach(self, expected: dict[int, int]) -> None:
        async def reached() -> bool:
            stored = await self.stored()
            return all(stored.get(p) == o for p, o in expected.items())

        await until(reached, f"stored offsets {expected} (now {await self.stored()})")

    async def store(self, partition: int, next_offset: int) -> None:
        """Set the group's stored offset of ``partition``, as another process would."""
        await offsets.claim(self.conn, self.group_id, {self.tps[partition]: 0})
        await self.conn.execute(
            "UPDATE consumer_offsets SET next_offset = %s"
            " WHERE group_id = %s AND topic = %s AND partition = %s",
            [next_offset, self.group_id, self.topic, partition],
        )

    def sought(self, partition: int, since: int = 0) -> list[int]:
        """Offsets ``partition`` was sought to (from seek number ``since``), repeats collapsed.

        Repeats: on assignment the loop may resync right after the listener did, finding the
        same offsets.
        """
        offsets = [o for tp, o in self.consumer.seeks[since:] if tp == self.tps[partition]]
        return [o for i, o in enumerate(offsets) if i == 0 or offsets[i - 1] != o]

    def retries(self) -> float | None:
        return self.metrics.registry.get_sample_value(
            "drip_consumer_retries_total", {"group": self.group.name}
        )

    async def rebalance(self, *partitions: int) -> None:
        await asyncio.wait_for(self.consumer.rebalance(self.tps[p] for p in partitions), WAIT_S)


@pytest.fixture
async def loop(db_settings: Settings) -> AsyncIterator[Loop]:
    """A group over a stand-in broker of its own, its table created for this test alone."""
    prefix = new_prefix()
    settings = db_settings.model_copy(
        update={
            "topic_prefix": prefix,
            "group_id_prefix": f"{prefix}-",
            "batch_max_records": 100,
            "batch_max_wait_ms": 20,
        }
    )
    table = f"loop_applied_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(settings.libpq_url, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("CREATE TABLE {} (event_id text NOT NULL)").format(sql.Identifier(table))
        )
        try:
            yield Loop(settings, conn, table)
        finally:
            await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


@asynccontextmanager
async def running(loop: Loop) -> AsyncIterator[Loop]:
    """``loop``'s runtime running and subscribed (nothing assigned yet); stopped cleanly after."""
    stop = asyncio.Event()
    runtime = GroupRuntime(
        loop.group,
        loop.settings,
        loop.metrics,
        consumer_factory=lambda: cast(AIOKafkaConsumer, loop.consumer),
    )
    task = asyncio.create_task(runtime.run(stop))
    try:
        await asyncio.wait_for(loop.consumer.subscribed.wait(), WAIT_S)
        yield loop
        assert not task.done(), f"the runtime stopped early: {task.exception()}"
    finally:
        for release in [*loop.releases, *(gate[1] for gate in loop.mapping_gate.values())]:
            release.set()
        stop.set()
        await asyncio.wait_for(task, WAIT_S)
    assert loop.consumer.stopped


def assert_once(applied: Counter[str], expected: Sequence[str]) -> None:
    """Every id of ``expected`` applied exactly once, and nothing else."""
    twice = sorted(i for i, n in applied.items() if n > 1)
    missing = sorted(set(expected) - set(applied))
    extra = sorted(set(applied) - set(expected))
    assert (twice, missing, extra) == ([], [], [])


# --- 1, 2. Assignment: seek to the stored offsets (claimed at the log start), apply each once --


@pytest.mark.parametrize(
    ("stored", "log_start", "first"),
    [
        pytest.param(None, 0, 0, id="new-group-claims-the-log-start"),
        pytest.param(None, 2, 2, id="new-group-after-retention-claims-the-log-start"),
        pytest.param(3, 0, 3, id="stored-offset-decides"),
        pytest.param(1, 4, 4, id="stored-offset-behind-the-log-start-moves-up"),
    ],
)
async def test_assignment_seeks_to_stored_offsets_and_applies_each_record_once(
    loop: Loop, stored: int | None, log_start: int, first: int
) -> None:
    expected = []
    for p in range(PARTITIONS):
        ids = loop.produce(p, 6)
        loop.broker.delete_before(loop.tps[p], log_start)
        expected += ids[first:]
        if stored is not None:
            await loop.store(p, stored)
    # Kafka's committed offsets never decide where reading starts.
    loop.broker.committed[loop.group_id] = {tp: 5 for tp in loop.tps}

    async with running(loop):
        await loop.rebalance(*range(PARTITIONS))
        await loop.stored_reach({p: 6 for p in range(PARTITIONS)})
        assert [loop.sought(p) for p in range(PARTITIONS)] == [[first]] * PARTITIONS

    assert_once(await loop.applied(), expected)
    # Committed back to Kafka when the runtime stops, for Kafka's tools.
    assert loop.broker.committed[loop.group_id] == {tp: 6 for tp in loop.tps}


# --- 3. Revocation while a batch is in flight -------------------------------------------------


async def test_revocation_waits_for_the_batch_in_flight_to_commit(loop: Loop) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    loop.releases.append(release)

    async def block_first_batch(rows: list[str]) -> None:
        if not entered.is_set():
            entered.set()
            await release.wait()

    loop.before_apply = block_first_batch
    expected = [i for p in range(PARTITIONS) for i in loop.produce(p, 4)]
    async with running(loop):
        await loop.rebalance(*range(PARTITIONS))
        await asyncio.wait_for(entered.wait(), WAIT_S)
        listened = len(loop.consumer.listened)
        revoking = asyncio.create_task(loop.rebalance(1, 2))
        assert await stays_pending(revoking, 0.3), "the rebalance did not wait for the batch"
        assert loop.consumer.listened[listened:] == [], "the revocation did not wait"
        assert await loop.stored() == {p: 0 for p in range(PARTITIONS)}
        release.set()
        await asyncio.wait_for(revoking, WAIT_S)
        # The batch committed before the revocation completed: partition 0 included.
        assert await loop.stored() == {p: 4 for p in range(PARTITIONS)}

        expected += [i for p in range(PARTITIONS) for i in loop.produce(p, 3)]
        await loop.stored_reach({1: 7, 2: 7})
        assert (await loop.stored())[0] == 4  # not held: left for its next owner
        await loop.rebalance(*range(PARTITIONS))
        await loop.stored_reach({p: 7 for p in range(PARTITIONS)})

    assert_once(await loop.applied(), expected)


async def test_a_batch_read_before_a_revocation_is_refused_and_read_again(loop: Loop) -> None:
    expected = [i for p in range(PARTITIONS) for i in loop.produce(p, 2)]
    async with running(loop):
        await loop.rebalance(*range(PARTITIONS))
        await loop.stored_reach({p: 2 for p in range(PARTITIONS)})
        reached, release = threading.Event(), threading.Event()
        loop.mapping_gate["p0-2"] = (reached, release)
        expected += [i for p in range(PARTITIONS) for i in loop.produce(p, 1)]
        # The batch of the three new records is being mapped, from the positions held now...
        assert await asyncio.to_thread(reached.wait, WAIT_S)
        await loop.rebalance(1, 2)  # ...when partition 0 is taken away,
        release.set()
        # so the batch is refused whole, and partitions 1 and 2 are read again and applied.
        await loop.stored_reach({1: 3, 2: 3})
        assert (await loop.stored())[0] == 2
        assert not any("p0-2" in call for call in loop.applied_calls)

        await loop.rebalance(*range(PARTITIONS))
        await loop.stored_reach({p: 3 for p in range(PARTITIONS)})

    assert_once(await loop.applied(), expected)


# --- 4. A failed commit: back off, read the stored offsets again, seek back ----------------


async def test_a_failed_commit_is_retried_from_the_stored_offsets(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    failures: list[int] = []  # seeks made before the failure

    async def fail_once(rows: list[str]) -> None:
        if not failures:
            failures.append(len(loop.consumer.seeks))
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    loop.before_apply = fail_once
    expected = [i for p in range(PARTITIONS) for i in loop.produce(p, 4)]
    with caplog.at_level(logging.WARNING, logger="consumers.engine.loop"):
        async with running(loop):
            await loop.rebalance(*range(PARTITIONS))
            await loop.stored_reach({p: 4 for p in range(PARTITIONS)})

    assert loop.retries() == 1
    assert "applying a batch failed: OperationalError" in caplog.text
    # Sought back to the stored offsets after the failure; the first batch was all of them.
    assert [loop.sought(p, since=failures[0]) for p in range(PARTITIONS)] == [[0]] * PARTITIONS
    assert_once(await loop.applied(), expected)


# --- 5. Offsets moved by another process ---------------------------------------------------


async def test_offsets_moved_by_another_process_refuse_the_batch_and_resync(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    expected = loop.produce(0, 5)
    with caplog.at_level(logging.INFO, logger="consumers.engine.commit"):
        async with running(loop):
            await loop.rebalance(*range(PARTITIONS))
            await loop.stored_reach({0: 5})
            await loop.store(0, 8)  # another process applied up to offset 8 meanwhile
            loop.produce(0, 5)
            await loop.stored_reach({0: 10})

    assert "partitions were moved by another process" in caplog.text
    assert loop.sought(0) == [0, 8]
    assert_once(await loop.applied(), [*expected, "p0-8", "p0-9"])


# --- 6. Retention: the log start passes the stored offset --------------------------------


async def test_a_retention_gap_is_logged_and_reading_continues_at_the_log_start(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    expected = loop.produce(0, 3)
    with caplog.at_level(logging.WARNING, logger="consumers.engine.commit"):
        async with running(loop):
            await loop.rebalance(*range(PARTITIONS))
            await loop.stored_reach({0: 3})
            # Records 3..7 come and 3..5 are gone before the group reads them.
            expected += loop.produce(0, 5)[3:]
            loop.broker.delete_before(loop.tps[0], 6)
            await loop.stored_reach({0: 8})

    assert f"{loop.topic}[0] continues at offset 6, stored 3" in caplog.text
    assert_once(await loop.applied(), expected)
