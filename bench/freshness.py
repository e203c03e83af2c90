"""Freshness benchmark: webhook accepted -> leaderboard row updated, at a fixed arrival rate.

Starts the real receiver (``drip-bridge serve``) and the real leaderboard group
(``drip-bridge consume leaderboard``) on a database of its own, built by the migrations, and
drives the receiver open loop with signed ``member.points.awarded`` events (``bench/loadgen``).
For every event it takes the Kafka record time, which the receiver's producer stamps just
before the broker acknowledges (so the figure errs on the long side), and the moment a poll of
PostgreSQL first sees the event's ``point_awards`` row, written in the same transaction as its
``member_balances`` row. It prints p50, p99 and max of the difference.

Run: ``python -m bench.freshness`` (or ``./dev bench freshness``). Loopback only; about 40 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import psycopg.sql
from aiokafka import AIOKafkaConsumer

from bench.harness import LoadGen, Server, free_port
from bench.signed_requests import write_requests
from bridge.app import WEBHOOK_PATH
from core import contract
from core.contract import EventType, Header
from core.db import migrate
from core.settings import Settings
from devstack.samples import SampleSeries

TARGET_P99_MS = 500.0
_POLL_S = 0.01


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__)
    parser.add_argument("--rate", type=float, default=500.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the load")
    parser.add_argument("--members", type=int, default=2000)
    return parser.parse_args(argv)


def _bodies(count: int, members: int) -> tuple[list[bytes], set[str]]:
    rng = random.Random(11)
    start = datetime.now(UTC)
    series = [SampleSeries("bench-realm", f"member-{i:05d}", rng, start) for i in range(members)]
    bodies = [orjson.dumps(rng.choice(series).next(EventType.POINTS_AWARDED)) for _ in range(count)]
    ids = {contract.event_identity(orjson.loads(b)) for b in bodies}
    return bodies, ids


class _Database:
    """A database of this run alone, built by the real migrations, dropped at the end."""

    def __init__(self, settings: Settings) -> None:
        self.admin_url = settings.libpq_url
        self.name = f"drip_fresh_{uuid.uuid4().hex[:8]}"
        base = settings.sync_database_url.rpartition("/")[0]
        self.settings = settings.model_copy(update={"database_url": f"{base}/{self.name}"})

    def __enter__(self) -> Settings:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(self.name))
            )
        migrate(self.settings)
        return self.settings

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    psycopg.sql.Identifier(self.name)
                )
            )


async def _watch(settings: Settings, expected: set[str], done: asyncio.Event) -> list[float]:
    """Freshness in ms of each expected event, until all are seen or ``done`` and 30 s pass."""
    topic = contract.topic_for(settings.topic_prefix, EventType.POINTS_AWARDED)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    accepted: dict[str, float] = {}
    seen: dict[str, float] = {}

    async def read_kafka() -> None:
        async for record in consumer:
            event_id = dict(record.headers)[Header.EVENT_ID].decode()
            accepted.setdefault(event_id, record.timestamp / 1000)

    reader = asyncio.create_task(read_kafka())
    deadline: float | None = None
    try:
        async with await psycopg.AsyncConnection.connect(
            settings.libpq_url, autocommit=True
        ) as conn:
            while len(seen) < len(expected):
                if done.is_set() and deadline is None:
                    deadline = time.monotonic() + 30
                if deadline is not None and time.monotonic() > deadline:
                    break
                pending = [i for i in accepted if i not in seen]
                if pending:
                    rows = await conn.execute(
                        "SELECT event_id FROM point_awards WHERE event_id = ANY(%s)", [pending]
                    )
                    now = time.time()
                    for (event_id,) in await rows.fetchall():
                        seen[event_id] = now
                await asyncio.sleep(_POLL_S)
    finally:
        reader.cancel()
        await consumer.stop()
    missing = len(expected) - len(seen)
    if missing:
        print(f"  {missing} event(s) not seen in PostgreSQL within 30 s of the end of the load")
    return [(seen[i] - accepted[i]) * 1000 for i in seen]


async def _assigned(settings: Settings, consumer: Server, timeout_s: float = 60.0) -> None:
    """Wait until the group holds its partitions (it stores offsets on assignment)."""
    deadline = time.monotonic() + timeout_s
    async with await psycopg.AsyncConnection.connect(settings.libpq_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if consumer.proc.poll() is not None:
                raise RuntimeError(f"the leaderboard group exited; see {consumer.log}")
            rows = await conn.execute(
                "SELECT count(*) FROM consumer_offsets WHERE topic LIKE %s",
                [f"{settings.topic_prefix}.%"],
            )
            found = await rows.fetchone()
            if found and found[0] > 0:
                return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the leaderboard group took no partitions in {timeout_s:g} s")


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


async def _run(args: argparse.Namespace, settings: Settings, work: Path) -> list[float]:
    count = int(args.rate * args.seconds)
    bodies, ids = _bodies(count, args.members)
    secret = secrets.token_urlsafe(24)
    requests = work / "requests.bin"
    write_requests(requests, bodies, secret, WEBHOOK_PATH)
    gen = LoadGen(work)
    port = free_port()
    env = {
        **os.environ,
        "DRIP_WEBHOOK_SECRETS": secret,
        "DRIP_TOPIC_PREFIX": settings.topic_prefix,
        "DRIP_DATABASE_URL": settings.database_url,
        "DRIP_HTTP_PORT": str(port),
    }
    cli = str(Path(sys.executable).with_name("drip-bridge"))
    receiver = Server("receiver", [cli, "serve"], env, port, work / "receiver.log")
    receiver.wait_ready("/readyz")
    consumer = Server("leaderboard", [cli, "consume", "leaderboard"], env, 0, work / "group.log")
    try:
        await _assigned(settings, consumer)
        done = asyncio.Event()
        watcher = asyncio.create_task(_watch(settings, ids, done))
        result = await asyncio.to_thread(gen.run, port, requests, args.rate, args.seconds, 64)
        done.set()
        print(
            f"  webhooks: {result['ok']} of {result['offered']} answered 200, "
            f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
        )
        return await watcher
    finally:
        consumer.stop()
        receiver.stop()


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    base = Settings()
    settings = base.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}"})
    print(
        f"freshness at {args.rate:g} events/s for {args.seconds:g} s; cores {os.cpu_count()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
        f"batch wait {settings.batch_max_wait_ms} ms, topics {settings.topic_prefix}.*"
    )
    with _Database(settings) as db, tempfile.TemporaryDirectory(prefix="drip-fresh-") as tmp:
        lags = asyncio.run(_run(args, db, Path(tmp)))
    if len(lags) < 2:
        sys.exit("too few events seen to measure freshness")
    p50, p99 = _percentile(lags, 0.50), _percentile(lags, 0.99)
    verdict = "PASS" if p99 <= TARGET_P99_MS else "FAIL"
    print(f"  accepted -> leaderboard row: {len(lags)} events, p50 {p50:.0f} ms, "
          f"p99 {p99:.0f} ms, max {max(lags):.0f} ms")  # fmt: skip
    print(f"  target p99 <= {TARGET_P99_MS:.0f} ms: {p99:.0f} ms  {verdict}")


if __name__ == "__main__":
    main()
