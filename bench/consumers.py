"""Throughput of consumer groups: the real runtime against a raw set-based write of the same rows.

    python -m bench.consumers [GROUP ...] [--events N] [--time-order]

For each group (default: every registered group with a sample generator in bench/events.py) it
creates a fresh database by the migrations and fresh topics, fills the topics with N events as
the receiver would publish them (``--time-order``: sorted by event time first, as a topic filled
by live traffic holds them), then times

- the runtime: ``GroupRuntime`` from an empty group until every offset is stored (Kafka fetch,
  decoding, mapping, the group's exact upserts, dead letters, offsets; group join included);
- a keyless baseline: the mapped rows, already in memory, written with one plain multi-row
  INSERT per row type per batch into tables without keys or indexes (same batch size, one
  transaction per batch, no Kafka, no upsert logic): a floor no product table can reach;
- a same-schema baseline: the rows each of the group's tables takes from each batch
  (bench/table_rows.py), written into empty copies of those tables (``LIKE ... INCLUDING ALL``:
  same columns, keys and indexes) with one statement per table per batch, a plain INSERT for an
  append-only table and ``INSERT ... ON CONFLICT DO UPDATE`` where the group upserts: roughly
  the fastest PostgreSQL stores the rows the group stores.

Targets: at least 20,000 events/s per group, and at least 30% of the baseline (both ratios are
printed; the same-schema one compares like with like).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from aiokafka.admin import AIOKafkaAdminClient
from psycopg import sql

from bench.baselines import time_baseline, time_same_schema
from bench.events import GENERATORS, fill
from bench.harness import cpu_seconds
from consumers import registry
from consumers.api import ConsumerGroup
from consumers.engine.decode import map_record
from consumers.engine.loop import GroupRuntime
from core import contract
from core.db import migrate
from core.memory import settle_gc
from core.settings import Settings
from core.topics import ensure_topics
from devstack.kafka import LocalKafka

TARGET_EVENTS_S = 20_000
TARGET_RATIO = 0.30


class _Record:
    """A record as the runtime reads it, for mapping the baseline's rows without Kafka."""

    __slots__ = ("headers", "offset", "partition", "timestamp", "topic", "value")

    def __init__(self, prefix: str, event: dict[str, Any], offset: int) -> None:
        import orjson

        self.topic = contract.topic_for(prefix, event["type"])
        self.timestamp = -1
        self.partition, self.offset = 0, offset
        self.value: bytes | None = orjson.dumps(event)
        self.headers: Sequence[tuple[str, bytes]] = contract.build_headers(
            contract.event_identity(event),
            event["type"],
            event["realmId"],
            datetime.now(UTC),
            "raw",
        )


async def _stored(conn: psycopg.AsyncConnection[Any], group_id: str) -> int:
    cur = await conn.execute(
        "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE group_id = %s",
        [group_id],
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


@dataclasses.dataclass
class RuntimeRun:
    """What one runtime run took: wall time, and CPU time of each process doing the work."""

    seconds: float  # from start until every record's offset was stored
    steady_seconds: float  # after the first commit: joining the group left out
    first: int  # records stored by the first commit
    consumer_cpu: float  # this process: fetching, decoding, mapping, sending statements
    postgres_cpu: float | None  # the runtime's backends; None when PostgreSQL is not local
    kafka_cpu: float | None  # the local broker; None when it is not ours


async def _backends_cpu(conn: psycopg.AsyncConnection[Any], database: str) -> float | None:
    """CPU seconds of the other backends connected to ``database``, when they run here."""
    cur = await conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [database],
    )
    seconds = [cpu_seconds(pid) for (pid,) in await cur.fetchall()]
    return sum(s for s in seconds if s is not None) if seconds and None not in seconds else None


async def time_runtime(group: ConsumerGroup[Any], settings: Settings, total: int) -> RuntimeRun:
    """Runs the group's runtime until all ``total`` records are applied, and what it took.

    CPU time is what two runs compare best on this shared machine: wall time moves with
    whatever else runs, CPU time per event much less. The runtime's backends start with it, so
    their CPU time read at the end is all theirs.
    """
    stop = asyncio.Event()
    kafka_pid = LocalKafka(settings).daemon.pid()
    async with await psycopg.AsyncConnection.connect(settings.libpq_url, autocommit=True) as conn:
        started, cpu_started = time.perf_counter(), time.process_time()
        kafka_started = cpu_seconds(kafka_pid)
        first_at, first = 0.0, 0
        task = asyncio.create_task(GroupRuntime(group, settings).run(stop))
        try:
            while (stored := await _stored(conn, group.group_id(settings))) < total:
                if stored and not first:
                    first_at, first = time.perf_counter(), stored
                if task.done():
                    task.result()
                    raise RuntimeError("the runtime stopped before applying every record")
                await asyncio.sleep(0.01)
            done, cpu_done = time.perf_counter(), time.process_time()
            kafka_done = cpu_seconds(kafka_pid)
            postgres = await _backends_cpu(conn, conn.info.dbname)
            kafka = (
                kafka_done - kafka_started
                if kafka_started is not None and kafka_done is not None
                else None
            )
            return RuntimeRun(
                done - started, done - (first_at or started), first,
                cpu_done - cpu_started, postgres, kafka,
            )  # fmt: skip
        finally:
            stop.set()
            await task


async def bench_group(
    name: str, base: Settings, count: int, time_order: bool = False
) -> tuple[float, float]:
    """Runs the three measurements for one group; returns (events/s, same-schema rows/s)."""
    group = registry.get(name)
    database = f"drip_bench_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(base.libpq_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    head, _, _ = base.sync_database_url.rpartition("/")
    settings = base.model_copy(
        update={
            "database_url": f"{head}/{database}",
            "topic_prefix": f"bench-{uuid.uuid4().hex[:8]}",
        }
    )
    topics = group.topics(settings.topic_prefix)
    try:
        await asyncio.to_thread(migrate, settings)
        await ensure_topics(settings, topics)
        events = list(GENERATORS[name](count))
        if time_order:
            # As a topic filled by live traffic holds them: in the order DRIP sent them.
            events.sort(key=lambda event: event["timestamp"])
        filled = time.perf_counter()
        await fill(settings, iter(events))
        print(
            f"{name}: {count} events in {len(topics)} topic(s) x {settings.topic_partitions} "
            f"partitions (filled in {time.perf_counter() - filled:.1f} s), "
            f"batch <= {settings.batch_max_records}"
        )
        run = await time_runtime(group, settings, count)
        runtime_s, steady_s, first = run.seconds, run.steady_seconds, run.first
        rows = [map_record(group, _Record("b", e, n), settings)[0] for n, e in enumerate(events)]
        async with await psycopg.AsyncConnection.connect(
            settings.libpq_url, autocommit=True
        ) as conn:
            mapped = [r for r in rows if r is not None]
            baseline_s = await time_baseline(conn, mapped, settings.batch_max_records)
            same_s = await time_same_schema(conn, name, mapped, settings.batch_max_records)
            cur = await conn.execute("SELECT count(*) FROM dead_letters")
            dead = (await cur.fetchone() or (0,))[0]
    finally:
        await _drop(base, database, settings, topics)
    rate, raw, same = count / runtime_s, len(rows) / baseline_s, len(rows) / same_s
    steady = (count - first) / steady_s if steady_s else rate
    print(
        f"  runtime  {runtime_s:6.2f} s  {rate:9,.0f} events/s  "
        f"({steady:,.0f} events/s after the first commit; dead letters: {dead})"
    )
    print(f"  CPU per event: {_cpu_split(run, count)}")
    print(f"  baseline, keyless tables {baseline_s:6.2f} s  {raw:9,.0f} rows/s  (no keys/indexes)")
    print(f"  baseline, same schema    {same_s:6.2f} s  {same:9,.0f} events/s  (keys, upserts)")
    print(
        f"  [{'ok' if rate >= TARGET_EVENTS_S else 'BELOW'} >= {TARGET_EVENTS_S:,} events/s]  "
        f"runtime/keyless {_versus(rate, raw)}  runtime/same-schema {_versus(rate, same)}"
    )
    return rate, same


def _cpu_split(run: RuntimeRun, count: int) -> str:
    def us(seconds: float | None) -> str:
        return "n/a" if seconds is None else f"{seconds / count * 1e6:.0f} us"

    return (
        f"consumer {us(run.consumer_cpu)}, PostgreSQL {us(run.postgres_cpu)}, "
        f"Kafka broker {us(run.kafka_cpu)}"
    )


def _versus(rate: float, baseline: float) -> str:
    ratio = rate / baseline
    return f"{ratio:.0%} [{'ok' if ratio >= TARGET_RATIO else 'BELOW'} >= {TARGET_RATIO:.0%}]"


async def _drop(base: Settings, database: str, settings: Settings, topics: list[str]) -> None:
    async with await psycopg.AsyncConnection.connect(base.libpq_url, autocommit=True) as admin:
        await admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
    client = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await client.start()
    try:
        await client.delete_topics(topics)
    finally:
        await client.close()


async def main(names: Sequence[str], count: int, time_order: bool = False) -> None:
    settle_gc()  # as `drip-bridge consume` does
    base = Settings()
    for name in names:
        await bench_group(name, base, count, time_order)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    known = [n for n in registry.names() if n in GENERATORS]
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"default: {' '.join(known)}")
    parser.add_argument("--events", type=int, default=100_000, help="events per group")
    parser.add_argument(
        "--time-order",
        action="store_true",
        help="fill the topics in event-time order, as live traffic does (default: each "
        "generator's own order, random in time for streaks and purchases)",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.groups) - set(known))
    if unknown:
        parser.error(f"no sample events for {', '.join(unknown)}; known: {', '.join(known)}")
    asyncio.run(main(args.groups or known, args.events, args.time_order))
