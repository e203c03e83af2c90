"""The streaks group against real PostgreSQL: repeats, replays and late events count once.

Expectations are computed here from the generated events in plain Python (days with zoneinfo,
runs by walking forward from each run's first day), independently of the group's own code.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from consumers.groups.streaks import GROUP
from consumers.ops import replay
from core.settings import Settings
from tests.factories import make_event
from tests.group_db import emptied
from tests.group_events import group_event
from tests.group_runs import dead_letter_errors, run_until_stored
from tests.records import produce
from tests.streak_model import streaks

pytestmark = pytest.mark.integration

REALMS = ("realm-a", "realm-b")
MEMBERS = ("m1", "m2", "m3")
START = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with emptied(db_settings, GROUP) as connection:
        yield connection


def completion(event_id: str, realm: str, member: str, at: datetime) -> dict[str, Any]:
    event = make_event("quest.completed", id=event_id, realmId=realm, timestamp=at.isoformat())
    event["data"]["member"]["id"] = member
    event["data"]["quest"]["id"] = f"q-{event_id[-1]}"
    event["data"]["completedAt"] = at.isoformat().replace("+00:00", "Z")
    return event


async def deliver(
    conn: psycopg.AsyncConnection[Any],
    events: Sequence[dict[str, Any]],
    settings: Settings,
    batch_size: int = 7,
) -> None:
    """Map and apply ``events`` in batches, one transaction each, as the runtime would."""
    for start in range(0, len(events), batch_size):
        rows = [
            GROUP.rows_from(group_event(e), settings) for e in events[start : start + batch_size]
        ]
        async with conn.transaction():
            await GROUP.apply(conn, rows, settings)


async def streak_rows(conn: psycopg.AsyncConnection[Any]) -> dict[tuple[str, str], tuple[Any, ...]]:
    cur = await conn.execute(
        "SELECT realm_id, member_id, current_streak, longest_streak, last_completed_on,"
        " total_completions FROM quest_streaks"
    )
    return {(r[0], r[1]): tuple(r[2:]) for r in await cur.fetchall()}


def member_days(
    events: Sequence[dict[str, Any]], timezone: str
) -> dict[tuple[str, str], set[date]]:
    """Independent expectation: each member's local days with a completion."""
    days: dict[tuple[str, str], set[date]] = defaultdict(set)
    for e in events:
        at = datetime.fromisoformat(e["data"]["completedAt"])
        days[(e["realmId"], e["data"]["member"]["id"])].add(
            at.astimezone(ZoneInfo(timezone)).date()
        )
    return days


def expected_streaks(
    events: Sequence[dict[str, Any]], timezone: str
) -> dict[tuple[str, str], tuple[int, int, date, int]]:
    """Independent expectation: distinct event ids, local days, runs walked day by day."""
    unique = {e["id"]: e for e in events}
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for e in unique.values():
        counts[(e["realmId"], e["data"]["member"]["id"])] += 1
    result = {}
    for key, seen in member_days(list(unique.values()), timezone).items():
        lengths = {}
        for first in (d for d in seen if d - timedelta(days=1) not in seen):
            length = 1
            while first + timedelta(days=length) in seen:
                length += 1
            lengths[first + timedelta(days=length - 1)] = length
        last = max(seen)
        result[key] = (lengths[last], max(lengths.values()), last, counts[key])
    return result


async def stored_days(conn: psycopg.AsyncConnection[Any]) -> dict[tuple[str, str], list[date]]:
    """Each member's days as ``completed_days`` holds them, unrolled from the runs, in order."""
    cur = await conn.execute(
        "SELECT realm_id, member_id, array_agg(d::date ORDER BY d) FROM quest_streaks"
        " CROSS JOIN unnest(completed_days) AS r"
        " CROSS JOIN generate_series(lower(r), upper(r) - 1, interval '1 day') AS d GROUP BY 1, 2"
    )
    return {(realm, member): days for realm, member, days in await cur.fetchall()}


def over_kafka(settings: Settings, db_settings: Settings, **extra: object) -> Settings:
    """Settings for the real runtime on this test's topics and database, in small batches."""
    return settings.model_copy(
        update={
            "database_url": db_settings.database_url,
            "batch_max_records": 20,
            "batch_max_wait_ms": 50,
            **extra,
        }
    )


def generated_events(seed: int, count: int) -> list[dict[str, Any]]:
    """Completions over three weeks with gaps; times cluster around midnight in UTC and Tokyo."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        day = rng.choice([d for d in range(21) if d % 6 != 5])  # every sixth day is a gap
        minute = rng.choice([5, 14 * 60 + 50, 15 * 60 + 10, 23 * 60 + 55, 12 * 60])
        at = START + timedelta(days=day, minutes=minute)
        events.append(completion(f"e{seed}-{n}", rng.choice(REALMS), rng.choice(MEMBERS), at))
    return events


def with_repeats(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Shuffled (days out of order), with some events twice in a row and some replayed later."""
    rng = random.Random(seed)
    delivered = list(events)
    rng.shuffle(delivered)
    adjacent = [e for e in delivered for _ in range(2 if rng.random() < 0.15 else 1)]
    return adjacent + rng.sample(events, len(events) // 4)


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Tokyo"])
async def test_matches_independent_expectation(
    conn: psycopg.AsyncConnection[Any], db_settings: Settings, timezone: str
) -> None:
    settings = db_settings.model_copy(update={"streak_timezone": timezone})
    events = generated_events(seed=7, count=120)
    delivered = with_repeats(events, seed=11)
    assert len(delivered) > len(events) + 30

    await deliver(conn, delivered, settings)

    expected = expected_streaks(events, timezone)
    assert await streak_rows(conn) == expected
    cur = await conn.execute("SELECT count(*), count(DISTINCT event_id) FROM quest_completions")
    assert await cur.fetchone() == (len(events), len(events))
    # The SQL runs agree with the reference function on the stored days.
    for key, days in (await stored_days(conn)).items():
        assert tuple(streaks(days)) == expected[key][:3]


@pytest.mark.parametrize("batch_size", [1, 3, 7, 40])
@pytest.mark.parametrize("timezone", ["UTC", "Asia/Tokyo"])
async def test_in_order_delivery_matches_independent_expectation(
    conn: psycopg.AsyncConnection[Any], db_settings: Settings, timezone: str, batch_size: int
) -> None:
    """Events in time order: batches that start the day after the last one, on that same day,
    or after a gap."""
    settings = db_settings.model_copy(update={"streak_timezone": timezone})
    events = sorted(generated_events(seed=5, count=120), key=lambda e: e["data"]["completedAt"])

    await deliver(conn, events, settings, batch_size)

    assert await streak_rows(conn) == expected_streaks(events, timezone)


async def test_timezone_moves_a_completion_to_the_next_day(
    conn: psycopg.AsyncConnection[Any], db_settings: Settings
) -> None:
    tokyo = db_settings.model_copy(update={"streak_timezone": "Asia/Tokyo"})
    # 23:30Z on the 1st is the 2nd in Tokyo: with the 2nd's completion that is one day, not two.
    events = [
        completion("t1", "r", "m", datetime(2024, 3, 1, 23, 30, tzinfo=UTC)),
        completion("t2", "r", "m", datetime(2024, 3, 2, 3, 0, tzinfo=UTC)),
    ]
    await deliver(conn, events, tokyo)
    assert await streak_rows(conn) == {("r", "m"): (1, 1, date(2024, 3, 2), 2)}


async def test_late_event_filling_a_gap_joins_the_runs(
    conn: psycopg.AsyncConnection[Any], db_settings: Settings
) -> None:
    def on(day: int, event_id: str) -> dict[str, Any]:
        return completion(event_id, "r", "m", datetime(2024, 3, day, 12, tzinfo=UTC))

    await deliver(conn, [on(1, "a"), on(2, "b"), on(4, "c"), on(5, "d"), on(6, "e")], db_settings)
    assert await streak_rows(conn) == {("r", "m"): (3, 3, date(2024, 3, 6), 5)}

    await deliver(conn, [on(3, "late"), on(3, "late")], db_settings)
    assert await streak_rows(conn) == {("r", "m"): (6, 6, date(2024, 3, 6), 6)}

    # A replay of everything, in another order, changes nothing.
    await deliver(conn, [on(3, "late"), on(6, "e"), on(1, "a"), on(2, "b")], db_settings, 2)
    assert await streak_rows(conn) == {("r", "m"): (6, 6, date(2024, 3, 6), 6)}


async def test_same_event_twice_in_one_batch_counts_once(
    conn: psycopg.AsyncConnection[Any], db_settings: Settings
) -> None:
    event = completion("dup", "r", "m", datetime(2024, 3, 1, 9, tzinfo=UTC))
    await deliver(conn, [event, event, event], db_settings)
    assert await streak_rows(conn) == {("r", "m"): (1, 1, date(2024, 3, 1), 1)}


async def test_concurrent_batches_for_one_member_see_each_others_days(
    conn: psycopg.AsyncConnection[Any], db_settings: Settings
) -> None:
    """Two transactions for one member (two partitions): the later waits and counts both."""
    first = [completion("x1", "r", "m", datetime(2024, 3, 1, 9, tzinfo=UTC))]
    second = [completion("x2", "r", "m", datetime(2024, 3, 2, 9, tzinfo=UTC))]
    rows = [
        [GROUP.rows_from(group_event(e), db_settings) for e in batch] for batch in (first, second)
    ]
    url = db_settings.libpq_url
    async with (
        await psycopg.AsyncConnection.connect(url) as earlier,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as observer,
    ):
        await GROUP.apply(earlier, rows[0], db_settings)  # its transaction stays open
        async with conn.transaction():
            later = asyncio.ensure_future(GROUP.apply(conn, rows[1], db_settings))
            await wait_until_blocked(observer, conn.info.backend_pid)
            await earlier.commit()
            await asyncio.wait_for(later, timeout=10)
    assert await streak_rows(conn) == {("r", "m"): (2, 2, date(2024, 3, 2), 2)}


async def wait_until_blocked(observer: psycopg.AsyncConnection[Any], pid: int) -> None:
    """Wait (at most 10 s) until backend ``pid`` waits on a lock."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        cur = await observer.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
        )
        row = await cur.fetchone()
        if row and row[0] == "Lock":
            return
        assert asyncio.get_running_loop().time() < deadline, "second batch never waited"
        await asyncio.sleep(0.05)


async def test_runtime_over_kafka(
    conn: psycopg.AsyncConnection[Any], settings: Settings, db_settings: Settings
) -> None:
    """The real runtime over a topic with repeats, late days and one unusable event."""
    run = over_kafka(settings, db_settings, streak_timezone="Asia/Tokyo")
    events = generated_events(seed=21, count=60)
    broken = completion("broken", "realm-a", "m1", START)
    del broken["data"]["member"]["id"]
    sent = await produce(run, [*with_repeats(events, seed=22), broken])

    await run_until_stored(GROUP, run, sent)

    assert await streak_rows(conn) == expected_streaks(events, "Asia/Tokyo")
    errors = await dead_letter_errors(conn, GROUP.group_id(run), run.topic_prefix)
    assert errors == {"broken": "data.member.id is missing"}


async def test_replay_under_another_timezone_rebuilds_the_days(
    conn: psycopg.AsyncConnection[Any], settings: Settings, db_settings: Settings
) -> None:
    """Changing DRIP_STREAK_TIMEZONE takes a replay: it re-days every stored completion."""
    run = over_kafka(settings, db_settings)
    events = generated_events(seed=31, count=60)
    sent = await produce(run, with_repeats(events, seed=32))
    await run_until_stored(GROUP, run, sent)
    assert await streak_rows(conn) == expected_streaks(events, "UTC")

    tokyo = run.model_copy(update={"streak_timezone": "Asia/Tokyo"})
    summary = await replay.from_beginning(tokyo, GROUP)

    assert summary.records == sent
    expected = expected_streaks(events, "Asia/Tokyo")
    assert expected != expected_streaks(events, "UTC")  # the events straddle Tokyo's midnight
    assert await streak_rows(conn) == expected
    days = member_days(events, "Asia/Tokyo")
    assert await stored_days(conn) == {key: sorted(seen) for key, seen in days.items()}
