"""The leaderboard: who is in each realm, every point award, and each member's latest balance.

Delivery guarantee: exact. Awards are stored under their event id (primary key), so a DRIP
retry or a replayed record inserts nothing. Members and balances are last-writer-wins by event
time: each column group keeps the event time that set it, and an upsert only replaces values
older than its own, so events may arrive late, twice or out of order and the rows end the same.

Tables:
    members          per (realm, member): profile, join/leave times, ``active``
    point_awards     one row per ``member.points.awarded`` event
    realm_points     per (realm, realm point): its latest name; what the view ranks over
    member_balances  per (realm, member, realm point): ``newBalance`` of the latest award
    leaderboard      view: active members ranked by balance within each realm point

Reading the top of a realm point: ``SELECT * FROM leaderboard_top($1, $2, 100)`` (the view's
rows with ``rank <= 100``, JIT off) reads about 100 index entries whatever the realm's size:
about 3 ms with a million members. The view answers ``... AND rank <= 100`` the same way when
JIT is off (PostgreSQL's default JIT adds a few hundred ms of compiling). ``ORDER BY rank LIMIT
100`` gives the same rows but ranks the whole realm point first (under a second for a million
members): PostgreSQL cannot tell that rank follows the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import psycopg

from consumers.api import (
    ConsumerGroup,
    EventType,
    Settings,
    Statement,
    rows_param,
    run_plan,
    select_rows,
)
from consumers.groups.leaderboard.fold import Folded, fold
from consumers.groups.leaderboard.rows import LeaderboardRow, rows_from

_MEMBER_COLUMNS = """realm_id text, member_id text, username text, username_at timestamptz,
    display_name text, joined_at timestamptz, joined_event_at timestamptz, left_at timestamptz,
    left_event_at timestamptz, last_event_at timestamptz"""
_POINT_COLUMNS = "realm_id text, realm_point_id text, point_name text, name_at timestamptz"
_BALANCE_COLUMNS = """realm_id text, member_id text, realm_point_id text, point_name text,
    balance bigint, as_of timestamptz, event_id text"""
_KEY_COLUMNS = "realm_id text, member_id text"
_AWARD_COLUMNS = """event_id text, realm_id text, member_id text, realm_point_id text,
    point_name text, amount bigint, reason text, new_balance bigint, awarded_at timestamptz"""

# The member upsert keeps each value whose event time is newer. It runs first in every batch:
# its row lock on each member serialises the transactions that touch one member (a member's
# events sit on one partition per topic, but the group's topics may be read by different
# processes), so the statements after it see what the other transaction committed.
#
# The balances are upserted by the same statement, each after its member's row (they join the
# rows the member upsert returns), and take ``active`` from that row: locked, and brought up to
# date by this transaction, so a balance is written with its member's current membership.
# Reading ``active`` from the returned rows rather than from the members index costs one index
# lookup less per balance; the ON CONFLICT guard reads the latest committed balance whatever
# the statement's snapshot.
_MEMBERS_AND_BALANCES = f"""
WITH patched AS (
    INSERT INTO members AS m (realm_id, member_id, username, username_at, display_name,
                              joined_at, joined_event_at, left_at, left_event_at, last_event_at)
    {select_rows(_MEMBER_COLUMNS)}
    ON CONFLICT (realm_id, member_id) DO UPDATE SET
        username = CASE WHEN excluded.username_at IS NOT NULL AND (m.username_at IS NULL
                OR (excluded.username_at, excluded.username) > (m.username_at, m.username))
            THEN excluded.username ELSE m.username END,
        username_at = CASE WHEN excluded.username_at IS NOT NULL AND (m.username_at IS NULL
                OR (excluded.username_at, excluded.username) > (m.username_at, m.username))
            THEN excluded.username_at ELSE m.username_at END,
        display_name = CASE
            WHEN excluded.joined_event_at > coalesce(m.joined_event_at, '-infinity')
            THEN excluded.display_name ELSE m.display_name END,
        joined_at = CASE WHEN excluded.joined_event_at > coalesce(m.joined_event_at, '-infinity')
            THEN excluded.joined_at ELSE m.joined_at END,
        joined_event_at = greatest(m.joined_event_at, excluded.joined_event_at),
        left_at = CASE WHEN excluded.left_event_at > coalesce(m.left_event_at, '-infinity')
            THEN excluded.left_at ELSE m.left_at END,
        left_event_at = greatest(m.left_event_at, excluded.left_event_at),
        last_event_at = greatest(m.last_event_at, excluded.last_event_at)
    RETURNING m.realm_id, m.member_id, m.active
)
INSERT INTO member_balances AS b
    (realm_id, member_id, realm_point_id, point_name, balance, as_of, event_id, active)
SELECT e.*, patched.active
FROM ({select_rows(_BALANCE_COLUMNS)}) e
JOIN patched ON patched.realm_id = e.realm_id AND patched.member_id = e.member_id
ON CONFLICT (realm_id, member_id, realm_point_id) DO UPDATE SET
    point_name = excluded.point_name,
    balance = excluded.balance,
    as_of = excluded.as_of,
    event_id = excluded.event_id,
    active = excluded.active,
    applied_at = now()
WHERE (excluded.as_of, excluded.event_id) > (b.as_of, b.event_id)
"""

# Copies ``active`` onto the balances of members whose join or leave this batch carried. A
# statement of its own, after the member upsert: a statement sees the rows committed before it
# started, and only one that starts after the member's lock is held sees every balance.
_ACTIVE = f"""
UPDATE member_balances b SET active = m.active
FROM ({select_rows(_KEY_COLUMNS)}) e
JOIN members m USING (realm_id, member_id)
WHERE b.realm_id = m.realm_id AND b.member_id = m.member_id AND b.active <> m.active
"""

# Insert new realm points; rename known ones only from a newer named award. A plain UPDATE
# (rather than ON CONFLICT DO UPDATE) leaves rows it does not change unlocked.
_POINTS = f"""
WITH e AS (
    {select_rows(_POINT_COLUMNS)}
), fresh AS (
    INSERT INTO realm_points (realm_id, realm_point_id, point_name, name_at)
    SELECT * FROM e
    ON CONFLICT (realm_id, realm_point_id) DO NOTHING
)
UPDATE realm_points k SET point_name = e.point_name, name_at = e.name_at
FROM e
WHERE k.realm_id = e.realm_id AND k.realm_point_id = e.realm_point_id
  AND e.point_name IS NOT NULL
  AND (k.point_name IS NULL OR (e.name_at, e.point_name) > (k.name_at, k.point_name))
"""

# INSERT ... WHERE NOT EXISTS rather than ON CONFLICT DO NOTHING (docs/performance.md): an award
# is only written under its member's lock, and this statement starts after this transaction took
# it, so it sees any copy another transaction committed.
_AWARDS = f"""
INSERT INTO point_awards (event_id, realm_id, member_id, realm_point_id, point_name, amount,
                          reason, new_balance, awarded_at)
SELECT * FROM ({select_rows(_AWARD_COLUMNS)}) e
WHERE NOT EXISTS (SELECT FROM point_awards p WHERE p.event_id = e.event_id)
"""

_MEMBER_ROW = attrgetter(
    *("realm_id", "member_id", "username", "username_at", "display_name", "joined_at"),
    *("joined_event_at", "left_at", "left_event_at", "last_event_at"),
)
_BALANCE_ROW = attrgetter(
    *("realm_id", "member_id", "realm_point_id", "point_name", "new_balance", "event_at"),
    "event_id",
)
_AWARD_ROW = attrgetter(
    *("event_id", "realm_id", "member_id", "realm_point_id", "point_name", "amount", "reason"),
    *("new_balance", "event_at"),
)


def statements(folded: Folded) -> list[Statement]:
    """The SQL and parameters (rows as JSON) for a folded batch, in the order they must run."""
    steps: list[Statement] = []
    if folded.points:
        rows = [(p.realm_id, p.realm_point_id, p.point_name, p.name_at) for p in folded.points]
        steps.append((_POINTS, [rows_param(rows)]))
    if folded.members:
        members = rows_param(map(_MEMBER_ROW, folded.members))
        steps.append(
            (_MEMBERS_AND_BALANCES, [members, rows_param(map(_BALANCE_ROW, folded.balances))])
        )
    moved = [
        (p.realm_id, p.member_id)
        for p in folded.members
        if p.joined_event_at is not None or p.left_event_at is not None
    ]
    if moved:
        steps.append((_ACTIVE, [rows_param(moved)]))
    if folded.awards:
        steps.append((_AWARDS, [rows_param(map(_AWARD_ROW, folded.awards))]))
    return steps


def plan(rows: Sequence[LeaderboardRow], settings: Settings) -> list[Statement]:
    """The statements for a batch: folded, then at most four set-based statements."""
    return statements(fold(rows))


async def apply(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[LeaderboardRow], settings: Settings
) -> None:
    """Apply a batch with at most four set-based statements (:func:`plan`).

    Runs inside the runtime's transaction and never commits. Members go first: their row
    locks order this transaction after any other that touches the same members, and the
    balances take ``active`` from the member rows.
    """
    await run_plan(conn, rows, plan, settings)


# An award is kept under its event id, with the balance and member rows it went into. A join or
# a leave has no row of its own: it only moves its member's row, keyed by member.
TRACE = (
    "SELECT * FROM point_awards WHERE event_id = %s",
    "SELECT b.* FROM member_balances b JOIN point_awards a"
    " USING (realm_id, member_id, realm_point_id) WHERE a.event_id = %s",
    "SELECT m.realm_id, m.member_id, m.username, m.display_name, m.joined_at, m.left_at,"
    " m.active FROM members m JOIN point_awards a USING (realm_id, member_id)"
    " WHERE a.event_id = %s",
)

GROUP: ConsumerGroup[LeaderboardRow] = ConsumerGroup(
    name="leaderboard",
    event_types=(
        EventType.MEMBER_JOINED.value,
        EventType.MEMBER_LEFT.value,
        EventType.POINTS_AWARDED.value,
    ),
    tables=("members", "point_awards", "realm_points", "member_balances", "leaderboard"),
    rows_from=rows_from,
    apply=apply,
    plan=plan,
    trace=TRACE,
)
