"""Lag on real Kafka and PostgreSQL: `drip-bridge consumers` and the consumer_lag relation."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from consumers.engine.loop import GroupRuntime
from consumers.groups.purchases import GROUP, Purchase
from core.settings import Settings
from tests.factories import make_event
from tests.group_runs import run_until_stored, stored_offsets
from tests.integration.test_runtime import wait_for
from tests.records import produce

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]
DRIP_BRIDGE = str(Path(sys.executable).with_name("drip-bridge"))


@pytest.fixture
def run(settings: Settings, db_settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "database_url": db_settings.database_url,
            "batch_max_records": 5,
            "batch_max_wait_ms": 50,
        }
    )


def purchases(count: int) -> list[dict[str, Any]]:
    events = []
    for n in range(count):
        event = make_event("store.purchase.completed", id=f"lag-{n}")
        event["data"]["purchase"]["id"] = f"purchase-{n}"
        event["data"]["purchase"]["member"]["id"] = f"member-{n % 7}"
        events.append(event)
    return events


async def consumers_json(run: Settings) -> dict[str, Any]:
    """`drip-bridge consumers --json`, as an operator runs it; the purchases group's entry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIP_")}
    env |= {
        "DRIP_DATABASE_URL": run.database_url,
        "DRIP_KAFKA_BOOTSTRAP_SERVERS": run.kafka_bootstrap_servers,
        "DRIP_TOPIC_PREFIX": run.topic_prefix,
        "DRIP_GROUP_ID_PREFIX": run.group_id_prefix,
    }
    process = await asyncio.create_subprocess_exec(
        DRIP_BRIDGE, "consumers", "--json", env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    groups = {g["name"]: g for g in json.loads(out)}
    assert set(groups) >= {"leaderboard", "streaks", "purchases", "archive"}
    return groups["purchases"]  # type: ignore[no-any-return]


async def test_cli_lag_counts_unapplied_events_then_zero(run: Settings) -> None:
    sent = await produce(run, purchases(40))

    before = await consumers_json(run)
    assert (before["lag"], before["caught_up"]) == (sent, False)
    assert before["tables"] == list(GROUP.tables)
    assert {p["next_offset"] for p in before["partitions"]} == {None}  # never read yet
    assert sum(p["end_offset"] for p in before["partitions"]) == sent

    await run_until_stored(GROUP, run, sent)

    after = await consumers_json(run)
    assert (after["lag"], after["caught_up"]) == (0, True)
    assert all(p["next_offset"] == p["end_offset"] for p in after["partitions"])


async def lag_rows(conn: Conn, run: Settings) -> list[tuple[int, int, int]]:
    cur = await conn.execute(
        "SELECT end_offset, next_offset, lag FROM consumer_lag"
        " WHERE group_id = %s AND topic LIKE %s",
        [GROUP.group_id(run), run.topic_prefix + ".%"],
    )
    return [tuple(row) for row in await cur.fetchall()]


async def test_sql_relation_shows_lag_while_behind_and_zero_when_done(
    run: Settings, db_settings: Settings
) -> None:
    sent = await produce(run, purchases(60))
    gate, first_done = asyncio.Event(), asyncio.Event()

    async def gated(conn: Conn, rows: Sequence[Purchase], settings: Settings) -> None:
        # The first batch commits; the next ones wait, so the group stays behind meanwhile.
        if first_done.is_set():
            await gate.wait()
        first_done.set()
        await GROUP.apply(conn, rows, settings)

    held_back = dataclasses.replace(GROUP, apply=gated)
    stop = asyncio.Event()
    task = asyncio.create_task(GroupRuntime(held_back, run).run(stop))
    try:
        async with await psycopg.AsyncConnection.connect(
            db_settings.libpq_url, autocommit=True
        ) as conn:

            async def behind() -> bool:
                return sum(lag for *_, lag in await lag_rows(conn, run)) > 0

            await wait_for(behind, 30, "consumer_lag to show the group behind")
            for end, next_offset, lag in await lag_rows(conn, run):
                assert lag == end - next_offset >= 0

            gate.set()

            async def all_stored() -> bool:
                return await stored_offsets(conn, GROUP.group_id(run), run.topic_prefix) == sent

            await wait_for(all_stored, 60, "the group to apply every event")
            stop.set()
            await asyncio.wait_for(task, 20)

            rows = await lag_rows(conn, run)
            assert {lag for *_, lag in rows} == {0}
            assert sum(end for end, *_ in rows) == sent
    finally:
        gate.set()
        stop.set()
        await asyncio.wait_for(task, 20)
