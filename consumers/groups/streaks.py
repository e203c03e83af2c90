"""Quest streaks: days in a row on which each member completed at least one quest.

Delivery guarantee: each ``quest.completed`` event counts once. Completions are stored under
their event id (primary key), so a DRIP retry or a replayed record inserts nothing; only members
with a newly stored completion get their streak recomputed, from all of their stored days, so a
late event for an earlier day gives the same figures as in-order arrival.

Days are calendar days in ``settings.streak_timezone`` (DRIP_STREAK_TIMEZONE, UTC by default).
A stored completion keeps the day it was given, so changing that setting takes a replay of this
group to re-day past completions.

Tables:
    quest_completions  one row per completion event
    quest_days         one row per (realm, member, day) with a completion: what runs are made of
    quest_streaks      per member: current and longest run, last day, completions counted
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg

from consumers.event_fields import event_time, optional_str, required_str
from consumers.group import ConsumerGroup, Event
from consumers.json_rows import rows_param, select_rows
from consumers.streak_math import day_of
from dripbridge.contract import EventType, event_identity
from dripbridge.errors import UnusableEvent
from dripbridge.settings import Settings


@dataclass(frozen=True, slots=True)
class Completion:
    """One quest completion, with the calendar day it counts for."""

    event_id: str
    realm_id: str
    member_id: str
    quest_id: str
    quest_name: str | None
    quest_type: str | None
    completed_at: datetime
    day: date


def rows_from(event: Event, settings: Settings) -> Completion:
    """Map a ``quest.completed`` event; UnusableEvent names the field that is missing or wrong."""
    payload = event.payload
    if not isinstance(payload.get("data"), dict):
        raise UnusableEvent("data is missing or not an object")
    completed_at = event_time(payload, "data.completedAt")
    return Completion(
        event_id=event.event_id or event_identity(payload),
        realm_id=required_str(payload, "realmId"),
        member_id=required_str(payload, "data.member.id"),
        quest_id=required_str(payload, "data.quest.id"),
        quest_name=optional_str(payload, "data.quest.name"),
        quest_type=optional_str(payload, "data.quest.type"),
        completed_at=completed_at,
        day=day_of(completed_at, settings.streak_timezone),
    )


# Stores the new completions and their days; answers how many completions each member gained.
_COLUMNS = """event_id text, realm_id text, member_id text, quest_id text, quest_name text,
    quest_type text, completed_at timestamptz, day date"""
_STORE = f"""
WITH fresh AS (
    INSERT INTO quest_completions
        (event_id, realm_id, member_id, quest_id, quest_name, quest_type, completed_at, day)
    {select_rows(_COLUMNS)}
    ON CONFLICT (event_id) DO NOTHING
    RETURNING realm_id, member_id, day
), days AS (
    INSERT INTO quest_days (realm_id, member_id, day)
    SELECT DISTINCT realm_id, member_id, day FROM fresh
    ON CONFLICT DO NOTHING
)
SELECT realm_id, member_id, count(*) FROM fresh GROUP BY realm_id, member_id
ORDER BY realm_id, member_id
"""

# Two transactions touching one member would each recompute without the other's uncommitted
# days. The runtime's offset fence serialises batches of one partition, but a member's events
# can sit in two partitions (after the partition count grew, or records not keyed by member);
# locking per member makes the last writer see every stored day. Keys come sorted, so two
# batches cannot deadlock on each other.
_LOCK = """
SELECT pg_advisory_xact_lock(hashtextextended('quest_streaks:' || r || ':' || m, 0))
FROM unnest(%s::text[], %s::text[]) AS t(r, m)
"""

# Gaps and islands: within a run of consecutive days, day minus its rank is constant.
_RECOMPUTE = """
WITH touched AS (
    SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS t(realm_id, member_id, added)
), ranked AS (
    SELECT d.realm_id, d.member_id, d.day,
           d.day - (row_number() OVER (
               PARTITION BY d.realm_id, d.member_id ORDER BY d.day))::int AS island
    FROM quest_days d JOIN touched t USING (realm_id, member_id)
), runs AS (
    SELECT realm_id, member_id, max(day) AS last_day, count(*) AS length
    FROM ranked GROUP BY realm_id, member_id, island
), summary AS (
    SELECT realm_id, member_id, max(last_day) AS last_day, max(length) AS longest,
           (array_agg(length ORDER BY last_day DESC))[1] AS current
    FROM runs GROUP BY realm_id, member_id
)
INSERT INTO quest_streaks AS s
    (realm_id, member_id, current_streak, longest_streak, last_completed_on, total_completions)
SELECT m.realm_id, m.member_id, m.current, m.longest, m.last_day, t.added
FROM summary m JOIN touched t USING (realm_id, member_id)
ON CONFLICT (realm_id, member_id) DO UPDATE SET
    current_streak = excluded.current_streak,
    longest_streak = excluded.longest_streak,
    last_completed_on = excluded.last_completed_on,
    total_completions = s.total_completions + excluded.total_completions
"""


async def apply(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[Completion], settings: Settings
) -> None:
    """Store new completions, then recompute the streaks of the members who gained any.

    Runs inside the runtime's transaction and never commits. Repeats of an event id, in this
    batch or an earlier one, change nothing.
    """
    unique: dict[str, Completion] = {}
    for row in rows:
        unique.setdefault(row.event_id, row)
    if not unique:
        return
    async with conn.cursor() as cur:
        await cur.execute(_STORE, [rows_param(_values(row) for row in unique.values())])
        gained = await cur.fetchall()
        if not gained:
            return
        realms, members, added = (list(column) for column in zip(*gained, strict=True))
        await cur.execute(_LOCK, [realms, members])
        await cur.execute(_RECOMPUTE, [realms, members, added])


def _values(row: Completion) -> tuple[object, ...]:
    return (
        row.event_id,
        row.realm_id,
        row.member_id,
        row.quest_id,
        row.quest_name,
        row.quest_type,
        row.completed_at,
        row.day,
    )


GROUP: ConsumerGroup[Completion] = ConsumerGroup(
    name="streaks",
    group_id="drip-streaks",
    event_types=(EventType.QUEST_COMPLETED.value,),
    tables=("quest_completions", "quest_days", "quest_streaks"),
    rows_from=rows_from,
    apply=apply,
)
