"""The purchases group against real PostgreSQL: a purchase id counts once, whatever arrives.

Expectations are computed here from the generated events in plain Python, independently of the
group's own code.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from consumers.groups.purchases import GROUP
from core.settings import Settings
from tests.factories import make_event
from tests.group_db import emptied
from tests.group_events import group_event
from tests.group_runs import dead_letter_errors, run_until_stored
from tests.records import produce

pytestmark = pytest.mark.integration

ITEMS = {"vip": 1000, "hat": 150, "badge": 40}
START = datetime(2024, 3, 1, tzinfo=UTC)
RENAMED_AT = START + timedelta(days=3, hours=12)


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with emptied(db_settings, GROUP) as connection:
        yield connection


def purchase(
    event_id: str, purchase_id: str, realm: str, member: str, item: str, at: datetime
) -> dict[str, Any]:
    event = make_event("store.purchase.completed", id=event_id, realmId=realm)
    body = event["data"]["purchase"]
    body["id"] = purchase_id
    body["member"] = {"id": member, "username": f"user-{member}"}
    # The item is renamed part-way through, so the name kept per day must follow event time.
    name = f"{item} v2" if at >= RENAMED_AT else item
    body["item"] = {"id": item, "name": name, "cost": ITEMS[item]}
    body["completedAt"] = at.isoformat().replace("+00:00", "Z")
    return event


async def deliver(
    conn: psycopg.AsyncConnection[Any],
    events: Sequence[dict[str, Any]],
    settings: Settings,
    batch_size: int = 9,
) -> None:
    """Map and apply ``events`` in batches, one transaction each, as the runtime would."""
    for start in range(0, len(events), batch_size):
        batch = events[start : start + batch_size]
        rows = [GROUP.rows_from(group_event(e), settings) for e in batch]
        async with conn.transaction():
            await GROUP.apply(conn, rows, settings)


def generated(seed: int, count: int) -> list[dict[str, Any]]:
    """Purchases over a week, many within minutes of midnight UTC."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        minute = rng.choice([1, 59, 23 * 60 + 59, 23 * 60 + 1, 11 * 60]) + n % 7 * 1440
        at = START + timedelta(minutes=minute, seconds=n)  # unique times: no ties on rename
        realm, member = rng.choice(["ra", "rb"]), rng.choice(["m1", "m2", "m3", "m4"])
        events.append(purchase(f"e{n}", f"p{n}", realm, member, rng.choice(list(ITEMS)), at))
    return events


def deliveries(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Shuffled, with retries (same event twice), later replays, and a second event per purchase."""
    rng = random.Random(seed)
    delivered = list(events)
    rng.shuffle(delivered)
    delivered = [e for e in delivered for _ in range(2 if rng.random() < 0.2 else 1)]
    # A different event (another id) about a purchase already counted must not count it again.
    for original in rng.sample(events, 10):
        again = dict(original, id=original["id"] + "-again")
        delivered.insert(rng.randrange(len(delivered) + 1), again)
    return delivered + rng.sample(events, len(events) // 3)


def utc_day(event: dict[str, Any]) -> date:
    return datetime.fromisoformat(event["data"]["purchase"]["completedAt"]).astimezone(UTC).date()


def expected_tables(
    delivered: Sequence[dict[str, Any]],
) -> tuple[dict[str, tuple[Any, ...]], dict[Any, tuple[Any, ...]], dict[Any, tuple[Any, ...]]]:
    first: dict[str, dict[str, Any]] = {}
    for event in delivered:
        first.setdefault(event["data"]["purchase"]["id"], event)
    purchases, sales, spend = {}, defaultdict(list), defaultdict(list)
    for pid, e in first.items():
        p = e["data"]["purchase"]
        at = datetime.fromisoformat(p["completedAt"])
        purchases[pid] = (
            e["id"],
            e["realmId"],
            p["member"]["id"],
            p["item"]["id"],
            p["item"]["cost"],
            at,
        )
        sales[(e["realmId"], p["item"]["id"], utc_day(e))].append(
            (at, p["item"]["name"], p["item"]["cost"])
        )
        spend[(e["realmId"], p["member"]["id"])].append((at, p["item"]["cost"]))
    return (
        purchases,
        {k: (len(v), sum(c for _, _, c in v), max(v)[1]) for k, v in sales.items()},
        {k: (len(v), sum(c for _, c in v), min(v)[0], max(v)[0]) for k, v in spend.items()},
    )


async def actual_tables(
    conn: psycopg.AsyncConnection[Any],
) -> tuple[dict[str, tuple[Any, ...]], dict[Any, tuple[Any, ...]], dict[Any, tuple[Any, ...]]]:
    purchases = await conn.execute(
        "SELECT purchase_id, event_id, realm_id, member_id, item_id, cost, completed_at"
        " FROM purchases"
    )
    sales = await conn.execute(
        "SELECT realm_id, item_id, day, purchases, points_spent, item_name FROM item_sales_daily"
    )
    spend = await conn.execute(
        "SELECT realm_id, member_id, purchases, points_spent, first_purchase_at, last_purchase_at"
        " FROM member_spend"
    )
    return (
        {r[0]: tuple(r[1:]) for r in await purchases.fetchall()},
        {tuple(r[:3]): tuple(r[3:]) for r in await sales.fetchall()},
        {tuple(r[:2]): tuple(r[2:]) for r in await spend.fetchall()},
    )


async def test_matches_independent_expectation(
    conn: psycopg.AsyncConnection[Any], db_settings: Settings
) -> None:
    events = generated(seed=3, count=150)
    delivered = deliveries(events, seed=5)
    assert len(delivered) > len(events) + 50

    await deliver(conn, delivered, db_settings)

    purchases, sales, spend = await actual_tables(conn)
    want_purchases, want_sales, want_spend = expected_tables(delivered)
    assert len(purchases) == len(events)
    assert purchases == want_purchases
    assert sales == want_sales
    assert spend == want_spend
    assert sum(n for n, _, _, _ in spend.values()) == len(events)


async def test_replaying_everything_changes_nothing(
    conn: psycopg.AsyncConnection[Any], db_settings: Settings
) -> None:
    events = generated(seed=8, count=40)
    await deliver(conn, events, db_settings)
    before = await actual_tables(conn)
    await deliver(conn, list(reversed(events)), db_settings, batch_size=4)
    assert await actual_tables(conn) == before


async def test_days_are_utc_whatever_the_session_time_zone(
    conn: psycopg.AsyncConnection[Any], db_settings: Settings
) -> None:
    await conn.execute("SET TIME ZONE 'Asia/Tokyo'")
    late = purchase("e1", "p1", "r", "m", "hat", datetime(2024, 3, 1, 23, 30, tzinfo=UTC))
    await deliver(conn, [late], db_settings)
    cur = await conn.execute("SELECT day FROM item_sales_daily")
    assert await cur.fetchall() == [(date(2024, 3, 1),)]


async def test_late_purchase_does_not_bring_back_an_old_item_name(
    conn: psycopg.AsyncConnection[Any], db_settings: Settings
) -> None:
    day = RENAMED_AT.replace(hour=0)
    newer = purchase("e2", "p2", "r", "m", "vip", day + timedelta(hours=20))
    older = purchase("e1", "p1", "r", "m", "vip", day + timedelta(hours=2))
    await deliver(conn, [newer], db_settings)
    await deliver(conn, [older], db_settings)
    cur = await conn.execute("SELECT item_name, purchases, points_spent FROM item_sales_daily")
    assert await cur.fetchall() == [("vip v2", 2, 2000)]
    cur = await conn.execute("SELECT first_purchase_at, last_purchase_at FROM member_spend")
    assert await cur.fetchall() == [(day + timedelta(hours=2), day + timedelta(hours=20))]


async def test_runtime_over_kafka(
    conn: psycopg.AsyncConnection[Any], settings: Settings, db_settings: Settings
) -> None:
    """The real runtime over a topic with retries, second events and one unusable event."""
    run = settings.model_copy(
        update={"database_url": db_settings.database_url, "batch_max_records": 20}
    )
    events = generated(seed=31, count=60)
    broken = purchase("broken", "p-broken", "ra", "m1", "hat", START)
    broken["data"]["purchase"]["item"]["cost"] = "free"
    delivered = deliveries(events, seed=32)
    sent = await produce(run, [*delivered, broken])

    await run_until_stored(GROUP, run, sent)

    # Every event of a purchase has its member's key, hence one partition and delivery order:
    # the first one delivered is the one stored, as in the direct test.
    assert await actual_tables(conn) == expected_tables(delivered)
    errors = await dead_letter_errors(conn, GROUP.group_id(run), run.topic_prefix)
    assert errors == {"broken": "data.purchase.item.cost must be a number, got string"}
