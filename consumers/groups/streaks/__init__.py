"""Quest streaks: days in a row on which each member completed at least one quest.

Delivery guarantee: each ``quest.completed`` event counts once. Completions are stored under
their event id (primary key), so a DRIP retry or a replayed record inserts nothing; only members
with a newly stored completion get their streak recomputed, from all of their days kept as
runs, so a late event for an earlier day gives the same figures as in-order arrival.

Days are calendar days in ``settings.streak_timezone`` (DRIP_STREAK_TIMEZONE, UTC by default).
A stored completion keeps the day it was given, so changing that setting takes a replay of this
group to re-day past completions.

Tables:
    quest_completions  one row per completion event
    quest_streaks      per member: current and longest run, last day, completions counted,
                       and ``completed_days``: the days with a completion, as runs (ranges)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import Any

import psycopg

from consumers.api import (
    ConsumerGroup,
    Event,
    EventType,
    Settings,
    Statement,
    event_data,
    event_time,
    not_ahead,
    obj,
    optional_text,
    rows_param,
    run_plan,
    select_rows,
    text,
)
from consumers.groups.streaks.days import day_of


@dataclass(slots=True)  # not frozen: see docs/performance.md
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
    data = event_data(payload)
    member = obj(data, "member", "data.member")
    quest = obj(data, "quest", "data.quest")
    completed_at = not_ahead(
        event_time(payload, data, "completedAt", "data.completedAt"),
        event.envelope,
        settings,
        "data.completedAt",
    )
    return Completion(
        event.event_id,
        text(payload, "realmId", "realmId"),
        text(member, "id", "data.member.id"),
        text(quest, "id", "data.quest.id"),
        optional_text(quest, "name", "data.quest.name"),
        optional_text(quest, "type", "data.quest.type"),
        completed_at,
        day_of(completed_at, settings.streak_timezone),
    )


_COLUMNS = """event_id text, realm_id text, member_id text, quest_id text, quest_name text,
    quest_type text, completed_at timestamptz, day date"""

# Two transactions touching one member would each recompute without the other's uncommitted
# days. The runtime's offset fence serialises batches of one partition, but a member's events
# can sit in two partitions (after the partition count grew, or records not keyed by member);
# locking every member of the batch first, in a statement of its own, makes the statement
# after it see every day another transaction stored for them. Keys come sorted, so two batches
# cannot deadlock on each other.
_LOCK = """
SELECT pg_advisory_xact_lock(
    hashtextextended('quest_streaks:' || (r ->> 0) || ':' || (r ->> 1), 0))
FROM jsonb_array_elements(%s::jsonb) AS r
"""

# One statement: store the new completions, then fold each member's new days into the runs of
# days in their streak row and read the streaks off those runs. Plain INSERT ... WHERE NOT
# EXISTS rather than ON CONFLICT, whose speculative insertion costs more per row: under the
# members' locks no other transaction writes their completions or streak rows.
#
# ``completed_days`` is a datemultirange: adding a day merges it with the ranges it touches, so
# each range is one run of consecutive days whatever order the days came in. A late day that
# fills a gap joins two runs exactly as if it had come in order. The current streak is the
# length of the last range (it ends at the last day), the longest the longest range. The value
# grows by run, not by day (about 13 bytes a run): 1,000 separate days make about 13 kB.
_APPLY = f"""
WITH e AS (
    {select_rows(_COLUMNS)}
), fresh AS (
    INSERT INTO quest_completions
        (event_id, realm_id, member_id, quest_id, quest_name, quest_type, completed_at, day)
    SELECT * FROM e
    WHERE NOT EXISTS (SELECT FROM quest_completions c WHERE c.event_id = e.event_id)
    RETURNING realm_id, member_id, day
), merged AS (
    SELECT t.realm_id, t.member_id, t.added,
           coalesce(k.completed_days, '{{}}'::datemultirange) + t.days AS days
    FROM (
        SELECT realm_id, member_id, range_agg(daterange(day, day, '[]')) AS days,
               count(*) AS added
        FROM fresh GROUP BY realm_id, member_id
    ) t
    LEFT JOIN quest_streaks k ON k.realm_id = t.realm_id AND k.member_id = t.member_id
)
INSERT INTO quest_streaks AS s (realm_id, member_id, current_streak, longest_streak,
                                last_completed_on, total_completions, completed_days)
SELECT m.realm_id, m.member_id, r.current, r.longest, upper(m.days) - 1, m.added, m.days
FROM merged m
CROSS JOIN LATERAL (
    SELECT (array_agg(upper(run) - lower(run) ORDER BY lower(run) DESC))[1] AS current,
           max(upper(run) - lower(run)) AS longest
    FROM unnest(m.days) AS run
) r
ON CONFLICT (realm_id, member_id) DO UPDATE SET
    current_streak = excluded.current_streak,
    longest_streak = excluded.longest_streak,
    last_completed_on = excluded.last_completed_on,
    total_completions = s.total_completions + excluded.total_completions,
    completed_days = excluded.completed_days
"""


def plan(rows: Sequence[Completion], settings: Settings) -> list[Statement]:
    """Lock the batch's members, then store and recompute (nothing for an empty batch)."""
    unique: dict[str, Completion] = {}
    for row in rows:
        unique.setdefault(row.event_id, row)
    if not unique:
        return []
    members = sorted({(row.realm_id, row.member_id) for row in unique.values()})
    return [
        (_LOCK, [rows_param(members)]),
        (_APPLY, [rows_param(map(_ROW, unique.values()))]),
    ]


async def apply(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[Completion], settings: Settings
) -> None:
    """Lock the batch's members, store new completions, recompute the streaks of those who
    gained any (:func:`plan`).

    Runs inside the runtime's transaction and never commits. Repeats of an event id, in this
    batch or an earlier one, change nothing.
    """
    await run_plan(conn, rows, plan, settings)


_ROW = attrgetter(
    *("event_id", "realm_id", "member_id", "quest_id", "quest_name", "quest_type"),
    *("completed_at", "day"),
)


# The completion, and its member's streak row (days as text: runs of dates).
TRACE = (
    "SELECT * FROM quest_completions WHERE event_id = %s",
    "SELECT s.realm_id, s.member_id, s.current_streak, s.longest_streak, s.last_completed_on,"
    " s.total_completions, s.completed_days::text AS completed_days FROM quest_streaks s"
    " JOIN quest_completions c USING (realm_id, member_id) WHERE c.event_id = %s",
)

GROUP: ConsumerGroup[Completion] = ConsumerGroup(
    name="streaks",
    event_types=(EventType.QUEST_COMPLETED.value,),
    tables=("quest_completions", "quest_streaks"),
    rows_from=rows_from,
    apply=apply,
    plan=plan,
    trace=TRACE,
)
