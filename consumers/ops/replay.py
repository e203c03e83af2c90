"""Replay: rebuild a group's tables from the beginning of its topics, or re-apply since a time.

Both read the group's topics with a consumer that joins no group (so live processes keep their
partitions) from start offsets to the end offsets read when the run starts; events published
after that are left to the live processes. Records are mapped and batched exactly as the
runtime does (:func:`consumers.engine.decode.assemble`).

``from_beginning`` builds into shadow tables (:mod:`consumers.ops.shadow`) with its own offsets
while the group's live processes keep running, then swaps tables, dead letters and the group's
stored offsets in one transaction that holds the live writers for its length: readers never
see a half-built table nor lose an event they saw, and a replay that fails or is killed changes
nothing live. The build reads to the end of the log in rounds, each shorter than the last,
until one batch or less is left; the swap then locks the group's stored offsets, applies the
records up to them and swaps, so the end is reached in a bounded number of rounds whatever the
traffic, and the hold lasts one batch plus the copy. Only one rebuild of a group runs at a time
(a PostgreSQL advisory lock).

``since`` re-applies records from the first one published at or after a time, on the live
tables, and stores no offsets. It relies on the groups' idempotence (event ids under unique
constraints, event-time guards), so it needs no coordination and may run beside live processes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from psycopg import sql

from consumers.api import ConsumerGroup
from consumers.engine import offsets
from consumers.engine.commit import apply_batch, apply_effects
from consumers.engine.decode import Batch, assemble
from consumers.ops import shadow
from core.db import connect
from core.errors import ReplayRefused, ServiceUnavailable
from core.kafka_clients import admin_client, log_bounds, outside_consumer, partitions_of
from core.settings import Settings
from core.topics import ensure_topics

Progress = Callable[[int, int], None]
"""Called with (records done, records in the run) as the run advances."""

_LOCK = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"


@dataclass
class ReplaySummary:
    """What a replay did."""

    group: str
    mode: str
    records: int = 0
    events: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    tables_swapped: tuple[str, ...] = ()
    partitions: int = 0
    hold_seconds: float = 0.0
    """How long the swap held the group's live writers (0 when nothing was swapped)."""
    held_records: int = 0
    """Records applied to the shadow while the writers were held."""
    started: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def rate(self) -> float:
        """Records per second over the whole run."""
        return self.records / self.seconds if self.seconds > 0 else 0.0


async def from_beginning(
    settings: Settings, group: ConsumerGroup[Any], progress: Progress | None = None
) -> ReplaySummary:
    """Rebuild ``group``'s tables from its topics into shadow tables and swap them in.

    Runs beside the group's live processes, which keep the live tables fresh meanwhile. It
    reads to the end of the log in rounds until what is left fits in one batch
    (``DRIP_BATCH_MAX_RECORDS``), then swaps (:func:`consumers.ops.shadow.swap`): the live
    writers wait while the last records up to their stored offsets are applied and the tables
    swapped; :attr:`ReplaySummary.hold_seconds` says how long.

    Raises :class:`ReplayRefused` while another rebuild of the group runs. On any failure the
    live tables, dead letters and offsets are left as they were.
    """
    summary = ReplaySummary(group.name, "from the beginning")
    topics = group.topics(settings.topic_prefix)
    group_id = group.group_id(settings)
    await ensure_topics(settings, topics)
    async with admin_client(settings, f"drip-bridge-replay-{group.name}") as admin:
        tps, _missing = await partitions_of(admin, topics)
    schema = shadow.schema_for(group)
    async with await _connect(settings, group) as conn:
        cur = await conn.execute(_LOCK, [f"drip-bridge replay {group_id}"])
        locked = await cur.fetchone()
        if not locked or not locked[0]:
            raise ReplayRefused(f"another replay of group {group.name} is running; wait for it")
        tables = await shadow.owned_tables(conn, group)

        async def build(batch: Batch) -> None:
            await apply_batch(conn, group, batch, settings, schema=schema)

        try:
            async with _reader(settings, group) as consumer:
                starts, ends = await log_bounds(consumer, tps)
                await shadow.create(conn, schema, tables)
                # The build's offsets (offsets.claim, then apply_batch) go to the shadow copy.
                await conn.execute(
                    sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema))
                )
                left: int | None = None
                while True:
                    built = await offsets.claim(conn, group_id, starts)
                    await _read(consumer, group, settings, built, ends, build, summary, progress)
                    built = await offsets.claim(conn, group_id, starts)
                    _, ends = await log_bounds(consumer, tps)
                    behind = sum(max(ends[tp] - built[tp], 0) for tp in tps)
                    # Close enough to hold the writers; or traffic outpaces the build, and
                    # another round would end no closer.
                    if behind <= settings.batch_max_records or (
                        left is not None and behind >= left
                    ):
                        break
                    left = behind

                async def catch_up(
                    stored: Mapping[TopicPartition, int],
                ) -> dict[TopicPartition, shadow.Range]:
                    # Up to the live offsets, so the swap takes back nothing already shown; a
                    # live process behind the build resumes from the build's offsets instead.
                    target = {tp: max(built[tp], stored.get(tp, 0)) for tp in tps}
                    before = summary.records
                    await _read(consumer, group, settings, built, target, build, summary, progress)
                    summary.held_records = summary.records - before
                    return {tp: (starts[tp], target[tp]) for tp in tps}

                summary.hold_seconds = await shadow.swap(
                    conn, group_id, schema, tables, topics, catch_up
                )
        except BaseException:
            # Best effort: a replay killed outright leaves the schema to the next one instead.
            with contextlib.suppress(Exception):
                await shadow.drop(conn, schema)
            raise
    summary.tables_swapped = tuple(tables)
    summary.seconds = time.perf_counter() - summary.started
    return summary


async def since(
    settings: Settings,
    group: ConsumerGroup[Any],
    when: datetime,
    progress: Progress | None = None,
) -> ReplaySummary:
    """Re-apply ``group``'s records published at or after ``when`` to the live tables.

    Stores no offsets and drops nothing; records already applied change nothing.
    """
    summary = ReplaySummary(group.name, f"since {when.isoformat()}")
    topics = group.topics(settings.topic_prefix)
    await ensure_topics(settings, topics)
    async with admin_client(settings, f"drip-bridge-replay-{group.name}") as admin:
        tps, _missing = await partitions_of(admin, topics)
    async with await _connect(settings, group) as conn, _reader(settings, group) as consumer:
        await shadow.owned_tables(conn, group)  # fails early, with the fix, if not migrated
        _, ends = await log_bounds(consumer, tps)
        found = await consumer.offsets_for_times({tp: int(when.timestamp() * 1000) for tp in tps})
        starts = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in tps}

        async def reapply(batch: Batch) -> None:
            await apply_effects(conn, group, batch, settings)

        await _read(consumer, group, settings, starts, ends, reapply, summary, progress)
    summary.seconds = time.perf_counter() - summary.started
    return summary


async def _connect(settings: Settings, group: ConsumerGroup[Any]) -> psycopg.AsyncConnection[Any]:
    try:
        return await connect(settings, f"drip-bridge replay {group.name}")
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(f"PostgreSQL did not answer ({exc}); is it running?") from exc


def _reader(
    settings: Settings, group: ConsumerGroup[Any]
) -> contextlib.AbstractAsyncContextManager[AIOKafkaConsumer]:
    return outside_consumer(
        settings,
        f"drip-bridge-replay-{group.name}",
        auto_offset_reset="earliest",
        max_poll_records=settings.batch_max_records,
    )


async def _read(
    consumer: AIOKafkaConsumer,
    group: ConsumerGroup[Any],
    settings: Settings,
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    apply: Callable[[Batch], Awaitable[None]],
    summary: ReplaySummary,
    progress: Progress | None,
) -> None:
    """Apply every record from ``starts`` up to (not including) ``ends``, batch by batch."""
    positions = dict(starts)
    pending = {tp for tp in ends if positions[tp] < ends[tp]}
    base = summary.records  # a catch-up round adds to the records already counted
    total = base + sum(ends[tp] - positions[tp] for tp in pending)
    summary.partitions = len(ends)

    def report() -> None:
        if progress is not None:
            done = sum(max(min(positions[tp], ends[tp]) - starts[tp], 0) for tp in ends)
            progress(base + done, total)

    report()
    if not pending:
        return
    consumer.assign(sorted(pending))
    consumer.resume(*pending)
    for tp in pending:
        consumer.seek(tp, positions[tp])
    while pending:
        fetched = await consumer.getmany(
            timeout_ms=settings.batch_max_wait_ms, max_records=settings.batch_max_records
        )
        within = {
            tp: [r for r in records if r.offset < ends[tp]]
            for tp, records in fetched.items()
            if tp in pending
        }
        batch = assemble(group, within, positions, settings)
        if batch.moves:
            await apply(batch)
            positions.update(batch.next_offsets())
            summary.records += batch.records
            summary.events += len(batch.rows)
            summary.dead_letters += len(batch.dead_letters)
        for tp in sorted(pending):
            # The fetch position also passes offsets that hold no record (transaction markers).
            if positions[tp] >= ends[tp] or await consumer.position(tp) >= ends[tp]:
                positions[tp] = ends[tp]
                pending.discard(tp)
                consumer.pause(tp)
        report()
