"""From a signed DRIP webhook to leaderboard rows: the real receiver, Kafka, runtime and tables.

The guide's own payloads are posted to the receiver app (a DRIP retry and a re-serialised
copy among them); the leaderboard group then runs over what the receiver published. This
checks the contract between the two sides: topics, keys, headers and event identity.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from bridge.app import WEBHOOK_PATH, create_app
from consumers.groups.leaderboard import GROUP
from core.settings import Settings
from tests.factories import GUIDE_SAMPLES, GUIDE_TEST_POINTS, pretty_body, sign
from tests.group_db import emptied
from tests.integration.test_runtime import run_until, stored_total

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]
REALM = "507f1f77bcf86cd799439011"
MEMBER = "507f1f77bcf86cd799439013"


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    async with emptied(db_settings, GROUP) as connection:
        yield connection


async def post_all(settings: Settings, bodies: list[bytes]) -> None:
    app = create_app(settings)
    async with (
        app.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client,
    ):
        for body in bodies:
            headers = {"Content-Type": "application/json", "X-Drip-Signature": sign(body)}
            answer = await client.post(WEBHOOK_PATH, content=body, headers=headers)
            assert answer.status_code == 200, answer.text


async def test_guide_events_through_the_receiver(
    settings: Settings, db_settings: Settings, conn: Conn
) -> None:
    points = GUIDE_SAMPLES["member.points.awarded"]
    bodies = [
        pretty_body(GUIDE_SAMPLES["member.joined"]),
        pretty_body(points),
        pretty_body(points),  # DRIP's retry
        json.dumps(points, separators=(",", ":")).encode(),  # the same event, other bytes
        pretty_body(GUIDE_SAMPLES["member.left"]),
        pretty_body(GUIDE_TEST_POINTS),
    ]
    await post_all(settings, bodies)
    run_settings = settings.model_copy(update={"database_url": db_settings.database_url})

    async def all_stored() -> bool:
        return await stored_total(conn, settings) == len(bodies)

    await run_until(run_settings, all_stored)

    cur = await conn.execute(
        "SELECT realm_id, member_id, username, display_name, active FROM members ORDER BY 1"
    )
    assert await cur.fetchall() == [
        (REALM, MEMBER, "member123", "New Member", False),  # left after joining
        ("test-realm", "test-member", "testuser", None, True),  # first seen in a points event
    ]
    cur = await conn.execute(
        "SELECT realm_id, realm_point_id, point_name, balance, active FROM member_balances"
        " ORDER BY 1"
    )
    assert await cur.fetchall() == [
        (REALM, "507f1f77bcf86cd799439015", "XP", 1250, False),
        ("test-realm", "XP", "XP", 1000, True),  # a realm point known by name only
    ]
    cur = await conn.execute("SELECT count(*) FROM point_awards")
    assert await cur.fetchone() == (2,)
    cur = await conn.execute("SELECT realm_id, rank, member_id, balance FROM leaderboard")
    assert await cur.fetchall() == [("test-realm", 1, "test-member", 1000)]
    cur = await conn.execute(
        "SELECT count(*) FROM dead_letters WHERE group_id = %s AND topic LIKE %s",
        [GROUP.group_id(settings), settings.topic_prefix + ".%"],
    )
    assert await cur.fetchone() == (0,)
