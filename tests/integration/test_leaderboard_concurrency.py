"""Two transactions of the leaderboard group touching one member at once.

A member's events sit on one partition of each topic, but the group reads three topics, and
two processes of the group may hold the same partition number of different topics. So a
batch with a member's award and a batch with their leave (or rejoin) can run concurrently.
Each case holds the first transaction open, starts the second until PostgreSQL shows it
waiting on a lock, then commits them in that order: the member's balances must end with the
membership the events say, whichever order the two ran in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from consumers.groups.leaderboard import GROUP
from consumers.groups.leaderboard.rows import rows_from
from core.settings import Settings
from tests.factories import make_event
from tests.group_db import emptied
from tests.group_events import group_event

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]
REALM = "realm-c"
MEMBER = "member-c"


def joined(at: str) -> dict[str, Any]:
    member = {"id": MEMBER, "username": "casey", "displayName": "Casey", "joinedAt": at}
    return make_event("member.joined", timestamp=at, realmId=REALM, data={"member": member})


def left(at: str) -> dict[str, Any]:
    return make_event(
        "member.left", timestamp=at, realmId=REALM, data={"memberId": MEMBER, "leftAt": at}
    )


def award(at: str, point: str, balance: int) -> dict[str, Any]:
    data = {
        "member": {"id": MEMBER, "username": "casey"},
        "points": {"amount": 10, "realmPoint": {"id": point, "name": point}},
        "newBalance": balance,
    }
    return make_event("member.points.awarded", timestamp=at, realmId=REALM, data=data)


CASES = {
    # The award (a new realm point) commits first; the leave was already waiting on it.
    "award then leave": (
        [joined("2024-01-20T10:00:00Z"), award("2024-01-20T11:00:00Z", "xp", 100)],
        [award("2024-01-20T12:00:00Z", "gold", 5)],
        [left("2024-01-20T13:00:00Z")],
        ["gold", "xp"],
        False,
    ),
    # The leave commits first; the award of a new realm point was waiting on it.
    "leave then award": (
        [joined("2024-01-20T10:00:00Z"), award("2024-01-20T11:00:00Z", "xp", 100)],
        [left("2024-01-20T13:00:00Z")],
        [award("2024-01-20T12:00:00Z", "gold", 5)],
        ["gold", "xp"],
        False,
    ),
    # A member who had left gets an award while they rejoin.
    "award then rejoin": (
        [joined("2024-01-20T10:00:00Z"), left("2024-01-20T10:30:00Z")],
        [award("2024-01-20T12:00:00Z", "gold", 5)],
        [joined("2024-01-20T13:00:00Z")],
        ["gold"],
        True,
    ),
}


@pytest.fixture
async def conns(db_settings: Settings) -> AsyncIterator[tuple[Conn, Conn, Conn]]:
    async with emptied(db_settings, GROUP) as watcher:
        url = db_settings.libpq_url
        async with (
            await psycopg.AsyncConnection.connect(url) as first,
            await psycopg.AsyncConnection.connect(url) as second,
        ):
            yield watcher, first, second


async def apply(conn: Conn, payloads: list[dict[str, Any]], settings: Settings) -> None:
    rows = [rows_from(group_event(p, offset=n), settings) for n, p in enumerate(payloads)]
    await GROUP.apply(conn, rows, settings)


async def wait_until_blocked(watcher: Conn, pid: int) -> None:
    for _ in range(200):
        cur = await watcher.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
        )
        if await cur.fetchone() == ("Lock",):
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the second transaction never waited on the first one's lock")


@pytest.mark.parametrize("case", CASES)
async def test_concurrent_batches_keep_balances_in_step_with_membership(
    db_settings: Settings, conns: tuple[Conn, Conn, Conn], case: str
) -> None:
    before, first_batch, second_batch, points, active = CASES[case]
    watcher, first, second = conns
    await apply(first, before, db_settings)
    await first.commit()

    await apply(first, first_batch, db_settings)
    waiting = asyncio.create_task(apply(second, second_batch, db_settings))
    await wait_until_blocked(watcher, second.info.backend_pid)
    await first.commit()
    await waiting
    await second.commit()

    cur = await watcher.execute("SELECT active FROM members WHERE member_id = %s", [MEMBER])
    assert await cur.fetchall() == [(active,)]
    cur = await watcher.execute(
        "SELECT realm_point_id, active FROM member_balances WHERE member_id = %s ORDER BY 1",
        [MEMBER],
    )
    assert await cur.fetchall() == [(point, active) for point in points]
    cur = await watcher.execute(
        "SELECT realm_point_id FROM leaderboard WHERE member_id = %s ORDER BY 1", [MEMBER]
    )
    assert await cur.fetchall() == ([(point,) for point in points] if active else [])
