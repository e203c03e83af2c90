"""Rebuilding a group while it runs: the swap's hold on the live writers, on real services.

A tally group (a scratch table without keys, one row per applied event) makes a doubled or
lost event visible as a count; the leaderboard under steady traffic checks the whole.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
import pytest

from consumers.api import ConsumerGroup, Event
from consumers.engine.loop import GroupRuntime
from consumers.groups.leaderboard import GROUP as LEADERBOARD
from consumers.ops import replay, shadow
from core import contract
from core.settings import Settings
from tests.factories import make_event
from tests.group_db import emptied
from tests.group_runs import run_until_stored, stored_offsets
from tests.integration.test_replay import snapshot
from tests.integration.test_runtime import wait_for
from tests.leaderboard_model import generate
from tests.records import produce

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]
TABLE = "replay_tally"
REFUSED = "moved by another process"


def _event_id(event: Event, settings: Settings) -> str:
    return event.event_id


async def _count(conn: Conn, rows: Sequence[str], settings: Settings) -> None:
    # No key on purpose: an event applied twice leaves two rows.
    await conn.execute(f"INSERT INTO {TABLE} (event_id) SELECT unnest(%s::text[])", [list(rows)])


TALLY: ConsumerGroup[str] = ConsumerGroup(
    name="tally",
    event_types=("quest.started",),
    tables=(TABLE,),
    rows_from=_event_id,
    apply=_count,
)


@pytest.fixture
def run(settings: Settings, db_settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "database_url": db_settings.database_url,
            "batch_max_records": 50,
            "batch_max_wait_ms": 50,
        }
    )


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    async with await psycopg.AsyncConnection.connect(
        db_settings.libpq_url, autocommit=True
    ) as connection:
        await connection.execute(f"CREATE TABLE {TABLE} (event_id text NOT NULL)")
        try:
            yield connection
        finally:
            await connection.execute(f"DROP TABLE {TABLE}")


def quests(tag: str, count: int) -> list[dict[str, Any]]:
    return [make_event("quest.started", id=f"{tag}{n}") for n in range(count)]


async def tallies(conn: Conn) -> dict[str, int]:
    cur = await conn.execute(f"SELECT event_id, count(*) FROM {TABLE} GROUP BY event_id")
    return {event_id: n for event_id, n in await cur.fetchall()}


async def live_waits_on_a_lock(conn: Conn) -> bool:
    cur = await conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = %s AND wait_event_type = 'Lock'",
        [f"drip-bridge {TALLY.name}"],
    )
    row = await cur.fetchone()
    return bool(row and row[0])


def stored(conn: Conn, run: Settings, group: ConsumerGroup[Any], total: int) -> Any:
    async def check() -> bool:
        return await stored_offsets(conn, group.group_id(run), run.topic_prefix) == total

    return check


async def test_a_live_batch_waiting_on_the_swap_is_applied_once_on_top(
    run: Settings, conn: Conn, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first = quests("a", 30)
    sent = await produce(run, first)
    later = quests("b", 12)
    more = 0
    original = shadow.replace_tables

    async def while_held(c: Conn, schema: str, tables: Sequence[str]) -> None:
        nonlocal more
        more = await produce(run, later)
        await wait_for(lambda: live_waits_on_a_lock(conn), 30, "a live batch to wait on the swap")
        await original(c, schema, tables)

    monkeypatch.setattr(shadow, "replace_tables", while_held)
    stop = asyncio.Event()
    live = asyncio.create_task(GroupRuntime(TALLY, run).run(stop))
    try:
        with caplog.at_level(logging.INFO, logger="consumers.engine.commit"):
            await wait_for(stored(conn, run, TALLY, sent), 60, "the live group to catch up")
            summary = await replay.from_beginning(run, TALLY)
            await wait_for(stored(conn, run, TALLY, sent + more), 60, "the waiting batch")
    finally:
        stop.set()
        await asyncio.wait_for(live, 20)

    # The live process stood where the build ended, so its waiting batch expected the swapped
    # offsets: it was applied on top of the rebuilt table, once, and never refused.
    assert summary.records == sent and more == len(later)
    assert await tallies(conn) == {e["id"]: 1 for e in [*first, *later]}
    assert not [r for r in caplog.records if REFUSED in r.getMessage()]
    assert summary.hold_seconds > 0


async def test_a_live_batch_behind_the_build_is_refused_and_read_again_once(
    run: Settings, conn: Conn, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first = quests("a", 20)
    sent = await produce(run, first)
    await run_until_stored(TALLY, run, sent)
    second = quests("b", 20)
    more = await produce(run, second)  # in Kafka, not applied live: the build goes past it
    stop = asyncio.Event()
    live: asyncio.Task[None] | None = None
    original = shadow.replace_tables

    async def while_held(c: Conn, schema: str, tables: Sequence[str]) -> None:
        nonlocal live
        live = asyncio.create_task(GroupRuntime(TALLY, run).run(stop))
        await wait_for(lambda: live_waits_on_a_lock(conn), 30, "a live batch to wait on the swap")
        await original(c, schema, tables)

    monkeypatch.setattr(shadow, "replace_tables", while_held)

    def refused() -> list[logging.LogRecord]:
        return [r for r in caplog.records if REFUSED in r.getMessage()]

    async def live_refused() -> bool:
        return bool(refused())

    try:
        with caplog.at_level(logging.INFO, logger="consumers.engine.commit"):
            summary = await replay.from_beginning(run, TALLY)
            await wait_for(live_refused, 30, "the waiting batch to be refused")
            # Read again from the swapped offsets: nothing left to apply, nothing applied.
            await asyncio.sleep(1)
    finally:
        stop.set()
        if live is not None:
            await asyncio.wait_for(live, 20)

    assert summary.records == sent + more
    assert await stored(conn, run, TALLY, sent + more)()
    assert await tallies(conn) == {e["id"]: 1 for e in [*first, *second]}


async def test_rebuild_under_traffic_swaps_and_ends_equal_to_a_fresh_build(
    run: Settings, db_settings: Settings
) -> None:
    base = generate(seed=5, members=40, awards_per_member=16)
    chunks = [generate(seed=100 + n, members=1, awards_per_member=3) for n in range(40)]
    async with emptied(db_settings, LEADERBOARD) as conn:
        sent = await produce(run, base.delivered)
        stop, rebuilt = asyncio.Event(), asyncio.Event()
        published = {"before": 0, "after": 0, "records": sent}
        seen: list[frozenset[str]] = []
        streams = [base]

        async def traffic() -> None:
            """Bounded: at most 40 chunks, 0.1 s apart, and 3 once the rebuild has ended."""
            for chunk in chunks:
                if rebuilt.is_set() and published["after"] >= 3:
                    break
                published["records"] += await produce(run, chunk.delivered)
                streams.append(chunk)
                published["after" if rebuilt.is_set() else "before"] += 1
                await asyncio.sleep(0.1)

        async def reader() -> None:
            async with await psycopg.AsyncConnection.connect(run.libpq_url, autocommit=True) as c:
                while not stop.is_set():
                    cur = await c.execute("SELECT event_id FROM point_awards")
                    seen.append(frozenset(row[0] for row in await cur.fetchall()))
                    await asyncio.sleep(0.02)

        live = asyncio.create_task(GroupRuntime(LEADERBOARD, run).run(stop))
        watcher = asyncio.create_task(reader())
        try:
            check = stored(conn, run, LEADERBOARD, sent)
            await wait_for(check, 60, "the live group to apply the first events")
            publisher = asyncio.create_task(traffic())
            try:
                summary = await replay.from_beginning(run, LEADERBOARD)
            finally:
                rebuilt.set()
                await asyncio.wait_for(publisher, 60)
            total = published["records"]
            await wait_for(stored(conn, run, LEADERBOARD, total), 60, "lag 0 after the traffic")
        finally:
            stop.set()
            await asyncio.wait_for(live, 20)
            await watcher
        assert published["before"] >= 1 and published["after"] >= 1, published
        assert sent < summary.records < total
        assert summary.hold_seconds > 0
        # Awards only ever arrive: a reader never saw one go, the swap included.
        assert all(a <= b for a, b in itertools.pairwise(seen))
        awards = {
            contract.event_identity(e)
            for stream in streams
            for e in stream.usable
            if e["type"] == "member.points.awarded"
        }
        assert seen[-1] == awards  # every award once (its event id is the key), none lost
        live_rows = await snapshot(conn, run)

        fresh = await replay.from_beginning(run, LEADERBOARD)

        assert fresh.records == total
        assert await snapshot(conn, run) == live_rows
