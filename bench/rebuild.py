"""How long an online rebuild holds the live writers, and what running it online costs.

    python -m bench.rebuild [--events N] [--rate R] [--traffic-s S]

Creates a fresh database (by the migrations) and fresh topics, fills them with N leaderboard
events (bench/events.py), lets the live group apply them, then rebuilds the group three times:

- stopped: no live process (what a rebuild refusing live processes would do);
- online, idle: the live group runs, nothing is published;
- online, traffic: the live group runs while R events/s are published, for at most S seconds
  (and never past the rebuild's end plus one second): bounded in count and time.

For each it prints the rebuild's duration and rate, how long the swap held the live writers,
and the records it applied while holding them. Database and topics are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from aiokafka.admin import AIOKafkaAdminClient
from psycopg import sql

from bench.events import fill, leaderboard
from consumers.engine.loop import GroupRuntime
from consumers.groups.leaderboard import GROUP
from consumers.ops import replay
from consumers.ops.replay import ReplaySummary
from core.db import migrate
from core.memory import settle_gc
from core.settings import Settings
from core.topics import ensure_topics


async def _stored(settings: Settings) -> int:
    async with await psycopg.AsyncConnection.connect(settings.libpq_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE group_id = %s",
            [GROUP.group_id(settings)],
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.2)


async def _traffic(settings: Settings, rate: int, limit_s: float, done: asyncio.Event) -> int:
    """Publish ``rate`` events/s in tenths of a second until ``done`` (+1 s) or ``limit_s``."""
    started, sent, seed = time.monotonic(), 0, 1000
    ended: float | None = None
    while time.monotonic() - started < limit_s:
        if done.is_set():
            ended = ended or time.monotonic()
            if time.monotonic() - ended > 1.0:
                break
        tick = time.monotonic()
        seed += 1
        sent += await fill(settings, leaderboard(max(rate // 10, 1), seed=seed))
        await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
    return sent


def _line(label: str, s: ReplaySummary, extra: str = "") -> str:
    return (
        f"  {label:<16} {s.seconds:6.2f} s  {s.rate:9,.0f} records/s  "
        f"writers held {s.hold_seconds * 1000:6.0f} ms  ({s.held_records} records caught up)"
        f"{extra}"
    )


async def main(count: int, rate: int, traffic_s: float) -> None:
    settle_gc()
    base = Settings()
    database = f"drip_bench_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(base.libpq_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    head, _, _ = base.sync_database_url.rpartition("/")
    tag = uuid.uuid4().hex[:8]
    settings = base.model_copy(
        update={
            "database_url": f"{head}/{database}",
            "topic_prefix": f"bench-{tag}",
            "group_id_prefix": f"bench-{tag}-",
        }
    )
    topics = GROUP.topics(settings.topic_prefix)
    stop = asyncio.Event()
    live: asyncio.Task[Any] | None = None
    try:
        await asyncio.to_thread(migrate, settings)
        await ensure_topics(settings, topics)
        total = await fill(settings, leaderboard(count))
        print(f"leaderboard: {total} events, batch <= {settings.batch_max_records}")

        async def caught_up() -> bool:
            return await _stored(settings) >= total

        live = asyncio.create_task(GroupRuntime(GROUP, settings).run(stop))
        await _until(caught_up, 600, "the live group to apply the events")
        stop.set()
        await live
        print(_line("stopped", await replay.from_beginning(settings, GROUP)))

        stop = asyncio.Event()
        live = asyncio.create_task(GroupRuntime(GROUP, settings).run(stop))
        await asyncio.sleep(5)  # joined and idle
        print(_line("online, idle", await replay.from_beginning(settings, GROUP)))

        done = asyncio.Event()
        traffic = asyncio.create_task(_traffic(settings, rate, traffic_s, done))
        await asyncio.sleep(1)
        try:
            summary = await replay.from_beginning(settings, GROUP)
        finally:
            done.set()
            published = await traffic
        total += published
        await _until(caught_up, 600, "the live group to apply the traffic")
        print(_line("online, traffic", summary, f"; {published} events published at {rate}/s"))
    finally:
        stop.set()
        if live is not None:
            await asyncio.wait_for(live, 30)
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the topics")
    parser.add_argument("--rate", type=int, default=1000, help="events/s of live traffic")
    parser.add_argument("--traffic-s", type=float, default=120.0, help="most seconds of traffic")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rate, args.traffic_s))
