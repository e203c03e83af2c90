"""Replay on real Kafka and PostgreSQL, with the leaderboard group (a view, generated columns).

The reference is always what the live group built from the same records through the real
runtime: a rebuild must give the same rows, row for row, whatever happened to the live tables.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
import pytest

from consumers.engine.loop import GroupRuntime
from consumers.groups.leaderboard import GROUP
from consumers.ops import replay
from core.settings import Settings
from tests.group_db import emptied
from tests.group_runs import run_until_stored, stored_offsets
from tests.integration.test_runtime import tables, wait_for
from tests.leaderboard_model import expected, generate
from tests.records import produce

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]
DRIP_BRIDGE = str(Path(sys.executable).with_name("drip-bridge"))
SHADOW = "replay_leaderboard"
Snapshot = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    async with emptied(db_settings, GROUP) as connection:
        yield connection


@pytest.fixture
def run(settings: Settings, db_settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "database_url": db_settings.database_url,
            "batch_max_records": 50,
            "batch_max_wait_ms": 50,
        }
    )


async def snapshot(conn: Conn, run: Settings) -> Snapshot:
    """Every owned relation (the view too), the group's dead letters and stored offsets.

    Columns filled by now() at apply time say when, not what, and are left out.
    """
    result: Snapshot = {}
    for relation in GROUP.tables:
        cur = await conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s"
            " AND coalesce(column_default, '') NOT LIKE '%%now()%%' ORDER BY ordinal_position",
            [relation],
        )
        columns = [name for (name,) in await cur.fetchall()]
        order = ", ".join(str(n + 1) for n in range(len(columns)))
        query = f"SELECT {', '.join(columns)} FROM {relation} ORDER BY {order}"
        result[relation] = await (await conn.execute(query)).fetchall()  # type: ignore[arg-type]
    cur = await conn.execute(
        'SELECT topic, partition, "offset", event_id, error FROM dead_letters'
        " WHERE group_id = %s AND topic LIKE %s ORDER BY 1, 2, 3",
        [GROUP.group_id(run), run.topic_prefix + ".%"],
    )
    result["dead_letters"] = await cur.fetchall()
    cur = await conn.execute(
        "SELECT topic, partition, next_offset FROM consumer_offsets"
        " WHERE group_id = %s AND topic LIKE %s ORDER BY 1, 2",
        [GROUP.group_id(run), run.topic_prefix + ".%"],
    )
    result["consumer_offsets"] = await cur.fetchall()
    return result


async def live_build(run: Settings, **size: int) -> tuple[int, int]:
    """Publish a leaderboard stream and let the live group apply it; (records, dead letters)."""
    stream = generate(seed=5, **size)
    sent = await produce(run, stream.delivered)
    await run_until_stored(GROUP, run, sent)
    return sent, stream.unusable


async def tamper(conn: Conn, run: Settings) -> None:
    """Damage the live tables the way a bug or a hand edit would."""
    await conn.execute(
        "DELETE FROM point_awards WHERE event_id IN (SELECT event_id FROM point_awards"
        " ORDER BY event_id LIMIT (SELECT count(*) / 2 FROM point_awards))"
    )
    await conn.execute("UPDATE member_balances SET balance = balance + 1000")
    await conn.execute("DELETE FROM dead_letters WHERE group_id = %s", [GROUP.group_id(run)])


async def schema_exists(conn: Conn, name: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
    return await cur.fetchone() is not None


async def test_rebuild_equals_the_live_build_and_readers_never_see_half(
    run: Settings, conn: Conn
) -> None:
    sent, unusable = await live_build(run)
    reference = await snapshot(conn, run)
    assert len(reference["dead_letters"]) == unusable > 0
    await tamper(conn, run)
    damaged = await snapshot(conn, run)
    seen: set[int] = set()
    reading = True

    async def reader() -> None:
        async with await psycopg.AsyncConnection.connect(run.libpq_url, autocommit=True) as c:
            while reading:
                cur = await c.execute("SELECT count(*) FROM point_awards")
                row = await cur.fetchone()
                seen.add(row[0] if row else -1)
                await asyncio.sleep(0.01)

    watcher = asyncio.create_task(reader())
    progress: list[tuple[int, int]] = []
    try:
        summary = await replay.from_beginning(
            run, GROUP, lambda done, total: progress.append((done, total))
        )
    finally:
        reading = False
        await watcher

    assert await snapshot(conn, run) == reference
    assert seen <= {len(damaged["point_awards"]), len(reference["point_awards"])}
    assert summary.records == sent and summary.dead_letters == unusable
    assert summary.events == sent - unusable
    assert summary.tables_swapped == ("members", "point_awards", "realm_points", "member_balances")
    assert progress[0] == (0, sent) and progress[-1] == (sent, sent)
    assert not await schema_exists(conn, SHADOW)
    # The live group carries on from the swapped offsets: nothing is applied twice.
    extra = generate(seed=6, members=2, awards_per_member=2).delivered
    more = await produce(run, extra)
    await run_until_stored(GROUP, run, sent + more)
    assert len((await snapshot(conn, run))["point_awards"]) > len(reference["point_awards"])


async def shadow_progress(conn: Conn) -> int:
    try:
        cur = await conn.execute(
            f"SELECT coalesce(sum(next_offset), 0) FROM {SHADOW}.consumer_offsets"
        )
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        return 0
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_killed_replay_leaves_live_tables_and_the_next_one_succeeds(
    run: Settings, conn: Conn, tmp_path: Path
) -> None:
    sent, _ = await live_build(run, members=40, awards_per_member=16)
    reference = await snapshot(conn, run)
    await tamper(conn, run)
    damaged = await snapshot(conn, run)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIP_")}
    env |= {
        "DRIP_DATABASE_URL": run.database_url,
        "DRIP_KAFKA_BOOTSTRAP_SERVERS": run.kafka_bootstrap_servers,
        "DRIP_TOPIC_PREFIX": run.topic_prefix,
        "DRIP_GROUP_ID_PREFIX": run.group_id_prefix,
        "DRIP_BATCH_MAX_RECORDS": "5",  # many small transactions: the kill lands mid-build
    }
    with (tmp_path / "replay.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            DRIP_BRIDGE, "replay", "leaderboard", "--from-beginning", env=env, stderr=log
        )
        try:

            async def building() -> bool:
                return await shadow_progress(conn) > 0

            await wait_for(building, 60, "the replay to build part of its shadow tables")
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
    assert 0 < await shadow_progress(conn) < sent

    assert await snapshot(conn, run) == damaged
    assert await schema_exists(conn, SHADOW)  # stale, dropped by the next replay

    summary = await replay.from_beginning(run, GROUP)

    assert summary.records == sent
    assert await snapshot(conn, run) == reference
    assert not await schema_exists(conn, SHADOW)


async def test_since_reapplies_without_changing_correct_rows_and_fills_a_gap(
    run: Settings, conn: Conn
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    sent, _ = await live_build(run, members=6, awards_per_member=4)
    reference = await snapshot(conn, run)

    again = await replay.since(run, GROUP, before)

    assert (again.records, again.tables_swapped) == (sent, ())
    assert await snapshot(conn, run) == reference  # correct rows stay as they are
    await conn.execute(
        "DELETE FROM point_awards WHERE event_id = (SELECT min(event_id) FROM point_awards)"
    )

    await replay.since(run, GROUP, before)

    assert await snapshot(conn, run) == reference  # the row is back, offsets kept


async def test_since_starts_at_the_first_record_published_at_or_after_the_time(
    run: Settings, conn: Conn
) -> None:
    await live_build(run, members=3, awards_per_member=2)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.05)
    later = generate(seed=9, members=1, awards_per_member=3)
    more = await produce(run, later.delivered)

    tail = await replay.since(run, GROUP, cut)

    assert (tail.records, tail.events) == (more, more - later.unusable)
    awarded = {e["id"] for e in later.usable if e["type"] == "member.points.awarded"}
    cur = await conn.execute(
        "SELECT event_id FROM point_awards WHERE event_id = ANY(%s)", [sorted(awarded)]
    )
    assert {row[0] for row in await cur.fetchall()} == awarded
    nothing = await replay.since(run, GROUP, datetime.now(UTC) + timedelta(hours=1))
    assert (nothing.records, nothing.partitions) == (0, len(GROUP.topics(run.topic_prefix)) * 3)


async def test_a_process_started_during_the_rebuild_resumes_from_the_swapped_offsets(
    run: Settings, conn: Conn
) -> None:
    """The refusal is checked at the start only: the swap must stay right if one starts later."""
    first = generate(seed=5, members=6, awards_per_member=4)
    sent = await produce(run, first.delivered)
    await run_until_stored(GROUP, run, sent)
    await tamper(conn, run)
    gate, built_some = asyncio.Event(), asyncio.Event()

    async def held(c: Conn, rows: Sequence[Any], settings: Settings) -> None:
        if built_some.is_set():
            await gate.wait()
        built_some.set()
        await GROUP.apply(c, rows, settings)

    rebuild = asyncio.create_task(
        replay.from_beginning(run, dataclasses.replace(GROUP, apply=held))
    )
    stop = asyncio.Event()
    live: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(built_some.wait(), 30)
        second = generate(seed=8, members=3, awards_per_member=3)
        more = await produce(run, second.delivered)
        live = asyncio.create_task(GroupRuntime(GROUP, run).run(stop))

        async def live_caught_up() -> bool:
            return await stored_offsets(conn, GROUP.group_id(run), run.topic_prefix) == sent + more

        await wait_for(live_caught_up, 60, "the live process to apply the new events")
        gate.set()
        # The live process went past the end read at the start: the rebuild catches up to it
        # before swapping, so the swap takes back nothing the live tables showed.
        assert (await asyncio.wait_for(rebuild, 60)).records == sent + more
        assert await live_caught_up()
    finally:
        gate.set()
        stop.set()
        if live is not None:
            await asyncio.wait_for(live, 20)
        if not rebuild.done():
            rebuild.cancel()
    assert await tables(conn) == expected([*first.usable, *second.usable])
