"""The consumer runtime with the leaderboard group, on real Kafka and PostgreSQL.

Records are written to Kafka with the contract's keys and headers (as the receiver writes
them); the group runs in this process through :class:`GroupRuntime`. Expected tables come from
:mod:`tests.leaderboard_model`, computed without the group's code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest
from aiokafka.structs import TopicPartition

from consumers.engine import offsets
from consumers.engine.commit import apply_batch
from consumers.engine.decode import Batch
from consumers.engine.loop import GroupRuntime
from consumers.engine.offsets import Move, OffsetsMoved
from consumers.groups.leaderboard import GROUP
from core.settings import Settings
from tests.group_db import emptied
from tests.leaderboard_model import Expected, expected, generate
from tests.records import produce

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]


@pytest.fixture
def run_settings(settings: Settings, db_settings: Settings) -> Settings:
    """This test's topics, the session's database, small batches (many transactions)."""
    return settings.model_copy(
        update={
            "database_url": db_settings.database_url,
            "batch_max_records": 50,
            "batch_max_wait_ms": 50,
        }
    )


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    async with emptied(db_settings, GROUP) as connection:
        yield connection


async def wait_for(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.1)


async def stored_total(conn: Conn, run: Settings) -> int:
    cur = await conn.execute(
        "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets"
        " WHERE group_id = %s AND topic LIKE %s",
        [GROUP.group_id(run), run.topic_prefix + ".%"],
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def tables(conn: Conn) -> Expected:
    """The leaderboard tables, in the shapes of :class:`Expected`."""

    async def rows(query: str) -> list[tuple[Any, ...]]:
        return await (await conn.execute(query)).fetchall()

    members = await rows(
        "SELECT realm_id, member_id, username, display_name, joined_at, left_at, active"
        " FROM members"
    )
    balances = await rows(
        "SELECT realm_id, member_id, realm_point_id, balance, as_of FROM member_balances"
    )
    awards = await rows(
        "SELECT event_id, realm_id, member_id, realm_point_id, amount, new_balance"
        " FROM point_awards"
    )
    points = await rows("SELECT realm_id, realm_point_id, point_name FROM realm_points")
    board = await rows(
        "SELECT realm_id, realm_point_id, rank, member_id, username, balance FROM leaderboard"
    )
    return Expected(
        members={(r[0], r[1]): tuple(r[2:]) for r in members},
        balances={(r[0], r[1], r[2]): (r[3], r[4]) for r in balances},
        awards={r[0]: tuple(r[1:]) for r in awards},  # type: ignore[misc]
        points={(r[0], r[1]): r[2] for r in points},
        leaderboard={tuple(r) for r in board},  # type: ignore[misc]
    )


async def run_until(settings: Settings, done: Callable[[], Awaitable[bool]]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(GroupRuntime(GROUP, settings).run(stop))
    try:
        await wait_for(done, 60, "the group to apply every record")
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def test_stream_gives_exact_tables(run_settings: Settings, conn: Conn) -> None:
    stream = generate(seed=3)
    sent = await produce(run_settings, stream.delivered)
    prefix = run_settings.topic_prefix

    async def all_stored() -> bool:
        return await stored_total(conn, run_settings) == sent

    await run_until(run_settings, all_stored)

    want = expected(stream.usable)
    assert await tables(conn) == want
    for realm, point in want.points:
        cur = await conn.execute(
            "SELECT realm_id, realm_point_id, rank, member_id, username, balance"
            " FROM leaderboard_top(%s, %s, 3)",
            [realm, point],
        )
        got = await cur.fetchall()
        assert [r[2] for r in got] == sorted(r[2] for r in got)
        assert set(got) == {r for r in want.leaderboard if r[:2] == (realm, point) and r[2] <= 3}
    cur = await conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE error <> '' AND payload IS NOT NULL)"
        " FROM dead_letters WHERE group_id = %s AND topic LIKE %s",
        [GROUP.group_id(run_settings), prefix + ".%"],
    )
    assert await cur.fetchone() == (stream.unusable, stream.unusable)
    cur = await conn.execute(
        "SELECT error FROM dead_letters WHERE group_id = %s AND event_id = 'bad-1'"
        " AND topic LIKE %s",
        [GROUP.group_id(run_settings), prefix + ".%"],
    )
    assert await cur.fetchone() == ("data.newBalance is missing",)


async def test_survives_lost_database_connections(run_settings: Settings, conn: Conn) -> None:
    """Connections killed mid-stream: batches are retried, none is skipped or doubled."""
    # Batches of 5 records: the stream takes long enough for three kills at its quarters
    # even when the runtime is fast (with 50 it could finish between two polls).
    run_settings = run_settings.model_copy(update={"batch_max_records": 5})
    stream = generate(seed=4, members=30)
    sent = await produce(run_settings, stream.delivered)
    kills = 0

    async def all_stored_killing_connections() -> bool:
        nonlocal kills
        stored = await stored_total(conn, run_settings)
        if kills < 3 and stored > kills * sent // 4:
            cur = await conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'drip-bridge leaderboard'"
                " AND datname = current_database()"
            )
            row = await cur.fetchone()
            kills += 1 if row and row[0] else 0
        return stored == sent

    await run_until(run_settings, all_stored_killing_connections)

    assert kills == 3
    assert await tables(conn) == expected(stream.usable)


async def test_stale_offsets_refuse_the_whole_batch(run_settings: Settings, conn: Conn) -> None:
    """The fence a zombie hits: offsets moved by someone else, so nothing of its batch lands."""
    tp = TopicPartition(f"{run_settings.topic_prefix}.member.points.awarded", 0)
    assert await offsets.claim(conn, GROUP.group_id(run_settings), {tp: 0}) == {tp: 0}
    stream = generate(seed=5, members=2, awards_per_member=2)
    rows = [GROUP.rows_from(_event(e), run_settings) for e in stream.usable]
    mine = Batch(rows=rows, moves=[Move(tp.topic, tp.partition, 0, 10)])
    other = Batch(rows=[], moves=[Move(tp.topic, tp.partition, 0, 4)])

    await apply_batch(conn, GROUP, other, run_settings)
    with pytest.raises(OffsetsMoved):
        await apply_batch(conn, GROUP, mine, run_settings)

    assert await offsets.claim(conn, GROUP.group_id(run_settings), {tp: 0}) == {tp: 4}
    cur = await conn.execute("SELECT count(*) FROM members")
    assert await cur.fetchone() == (0,)


def _event(payload: dict[str, Any]) -> Any:
    from tests.group_events import group_event

    return group_event(payload)
