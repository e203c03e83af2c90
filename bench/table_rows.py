"""The rows each group's tables take from one batch, for the same-schema baseline: pure, no I/O.

For every group with a sample generator, :data:`PLANS` turns a batch of the group's mapped rows
into one :class:`TableRows` per table it writes: the column values and, for a table the group
upserts, its key. Rows are already folded to one per key, as the groups fold before upserting
(PostgreSQL refuses one ``ON CONFLICT DO UPDATE`` touching a row twice). The values are plain
(latest wins, counts of the batch): the baseline measures what PostgreSQL takes to store rows
of that shape under the group's keys and indexes, not the groups' rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import Any

from psycopg.types.multirange import Multirange
from psycopg.types.range import Range

from consumers.groups.leaderboard.rows import Award, Joined, Left
from consumers.groups.purchases import Purchase
from consumers.groups.streaks import Completion


@dataclass(frozen=True, slots=True)
class TableRows:
    """Rows for one table: ``key`` None means append-only (plain INSERT), else upsert on it."""

    table: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    key: tuple[str, ...] | None = None


def _cols(names: str) -> tuple[str, ...]:
    return tuple(names.split())


_BALANCE = attrgetter(
    *_cols("realm_id member_id realm_point_id point_name new_balance event_at event_id")
)
_AWARD = attrgetter(
    *_cols(
        "event_id realm_id member_id realm_point_id point_name amount reason new_balance event_at"
    )
)
_PURCHASE = attrgetter(
    *_cols("purchase_id event_id realm_id member_id username item_id item_name cost completed_at")
)
_COMPLETION = attrgetter(
    *_cols("event_id realm_id member_id quest_id quest_name quest_type completed_at day")
)


def _by_key(rows: Sequence[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    latest = {row[:width]: row for row in rows}
    return [latest[k] for k in sorted(latest)]


def leaderboard(batch: Sequence[Any]) -> list[TableRows]:
    awards = [r for r in batch if isinstance(r, Award)]
    members = []
    for r in batch:
        joined = r if isinstance(r, Joined) else None
        left = r if isinstance(r, Left) else None
        username = None if left else r.username
        members.append(
            (
                *(r.realm_id, r.member_id, username, joined and joined.display_name),
                *(joined and joined.joined_at, left and left.left_at, r.event_at),
            )
        )
    return [
        TableRows(
            "realm_points",
            ("realm_id", "realm_point_id", "point_name", "name_at"),
            _by_key([(a.realm_id, a.realm_point_id, a.point_name, a.event_at) for a in awards], 2),
            key=("realm_id", "realm_point_id"),
        ),
        TableRows(
            "member_balances",
            _cols("realm_id member_id realm_point_id point_name balance as_of event_id"),
            _by_key(
                [_BALANCE(a) for a in awards],
                3,
            ),
            key=("realm_id", "member_id", "realm_point_id"),
        ),
        TableRows(
            "members",
            _cols("realm_id member_id username display_name joined_at left_at last_event_at"),
            _by_key(members, 2),
            key=("realm_id", "member_id"),
        ),
        TableRows(
            "point_awards",
            _cols("event_id realm_id member_id realm_point_id point_name amount reason")
            + _cols("new_balance awarded_at"),
            [_AWARD(a) for a in awards],
        ),
    ]


def purchases(batch: Sequence[Purchase]) -> list[TableRows]:
    items: dict[tuple[Any, ...], list[Any]] = {}
    spend: dict[tuple[Any, ...], list[Any]] = {}
    for p in batch:
        day = p.completed_at.date()
        item = items.setdefault((p.realm_id, p.item_id, day), [p.item_name, 0, 0, p.completed_at])
        item[0], item[1], item[2] = p.item_name, item[1] + 1, item[2] + p.cost
        item[3] = max(item[3], p.completed_at)
        mine = spend.setdefault((p.realm_id, p.member_id), [0, 0, p.completed_at, p.completed_at])
        mine[0], mine[1] = mine[0] + 1, mine[1] + p.cost
        mine[2], mine[3] = min(mine[2], p.completed_at), max(mine[3], p.completed_at)
    return [
        TableRows(
            "purchases",
            _cols("purchase_id event_id realm_id member_id username item_id item_name cost")
            + _cols("completed_at"),
            [_PURCHASE(p) for p in batch],
        ),
        TableRows(
            "item_sales_daily",
            _cols("realm_id item_id day item_name purchases points_spent last_purchase_at"),
            [k + tuple(v) for k, v in sorted(items.items())],
            key=("realm_id", "item_id", "day"),
        ),
        TableRows(
            "member_spend",
            _cols("realm_id member_id purchases points_spent first_purchase_at last_purchase_at"),
            [k + tuple(v) for k, v in sorted(spend.items())],
            key=("realm_id", "member_id"),
        ),
    ]


def streaks(batch: Sequence[Completion]) -> list[TableRows]:
    days: dict[tuple[str, str], list[date]] = {}
    for c in batch:
        days.setdefault((c.realm_id, c.member_id), []).append(c.day)
    return [
        TableRows(
            "quest_completions",
            _cols("event_id realm_id member_id quest_id quest_name quest_type completed_at day"),
            [_COMPLETION(c) for c in batch],
        ),
        TableRows(
            "quest_streaks",
            _cols("realm_id member_id current_streak longest_streak last_completed_on")
            + _cols("total_completions completed_days"),
            [(*k, 1, 1, max(d), len(d), _days(d)) for k, d in sorted(days.items())],
            key=("realm_id", "member_id"),
        ),
    ]


def _days(days: Sequence[date]) -> Multirange[date]:
    return Multirange(Range(day, day, "[]") for day in sorted(set(days)))


PLANS: dict[str, Callable[[Sequence[Any]], list[TableRows]]] = {
    "leaderboard": leaderboard,
    "purchases": purchases,
    "streaks": streaks,
}
