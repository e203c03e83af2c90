"""Store purchases: each purchase, daily sales per item, and each member's spend.

Delivery guarantee: each purchase counts once. Purchases are stored under DRIP's purchase id
(primary key) and the aggregates grow only by the purchases that this batch newly stored, in the
same statement, so a DRIP retry, a replayed record or a second event for the same purchase adds
nothing.

Days are UTC calendar days of the purchase's ``completedAt`` (the event ``timestamp`` when it has
none), whatever the database session's time zone.

Tables:
    purchases         one row per purchase
    item_sales_daily  per (realm, item, UTC day): purchases and points spent
    member_spend      per (realm, member): purchases, points spent, first and last purchase
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

import psycopg

from consumers.api import (
    ConsumerGroup,
    Event,
    EventType,
    Settings,
    Statement,
    UnusableEvent,
    count,
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


@dataclass(slots=True)  # not frozen: see docs/performance.md
class Purchase:
    """One completed store purchase; ``cost`` is in the realm's points."""

    purchase_id: str
    event_id: str
    realm_id: str
    member_id: str
    username: str | None
    item_id: str
    item_name: str | None
    cost: int
    completed_at: datetime


def rows_from(event: Event, settings: Settings) -> Purchase:
    """Map a ``store.purchase.completed`` event; UnusableEvent names the field at fault."""
    payload = event.payload
    data = event_data(payload)
    purchase = data.get("purchase")
    if type(purchase) is not dict:
        raise UnusableEvent("data.purchase is missing or not an object")
    item = obj(purchase, "item", "data.purchase.item")
    member = obj(purchase, "member", "data.purchase.member")
    completed_at = not_ahead(
        event_time(payload, purchase, "completedAt", "data.purchase.completedAt"),
        event.envelope,
        settings,
        "data.purchase.completedAt",
    )
    return Purchase(
        text(purchase, "id", "data.purchase.id"),
        event.event_id,
        text(payload, "realmId", "realmId"),
        text(member, "id", "data.purchase.member.id"),
        optional_text(member, "username", "data.purchase.member.username"),
        text(item, "id", "data.purchase.item.id"),
        optional_text(item, "name", "data.purchase.item.name"),
        count(item, "cost", "data.purchase.item.cost"),
        completed_at,
    )


# One statement: the aggregate CTEs read only what the INSERT actually stored (RETURNING), so a
# purchase id seen before contributes nothing. item_name follows the latest purchase by event time,
# so a late event cannot bring back an item's old name.
_COLUMNS = """purchase_id text, event_id text, realm_id text, member_id text, username text,
    item_id text, item_name text, cost bigint, completed_at timestamptz"""
_APPLY = f"""
WITH fresh AS (
    INSERT INTO purchases (purchase_id, event_id, realm_id, member_id, username, item_id,
                           item_name, cost, completed_at)
    {select_rows(_COLUMNS)}
    ON CONFLICT (purchase_id) DO NOTHING
    RETURNING realm_id, member_id, item_id, item_name, cost, completed_at,
              (completed_at AT TIME ZONE 'UTC')::date AS day
), items AS (
    INSERT INTO item_sales_daily AS s
        (realm_id, item_id, day, item_name, purchases, points_spent, last_purchase_at)
    SELECT realm_id, item_id, day,
           (array_agg(item_name ORDER BY completed_at DESC))[1],
           count(*), sum(cost)::bigint, max(completed_at)
    FROM fresh GROUP BY realm_id, item_id, day
    ON CONFLICT (realm_id, item_id, day) DO UPDATE SET
        purchases = s.purchases + excluded.purchases,
        points_spent = s.points_spent + excluded.points_spent,
        item_name = CASE WHEN excluded.last_purchase_at >= s.last_purchase_at
                         THEN coalesce(excluded.item_name, s.item_name) ELSE s.item_name END,
        last_purchase_at = greatest(s.last_purchase_at, excluded.last_purchase_at)
)
INSERT INTO member_spend AS m
    (realm_id, member_id, purchases, points_spent, first_purchase_at, last_purchase_at)
SELECT realm_id, member_id, count(*), sum(cost)::bigint, min(completed_at), max(completed_at)
FROM fresh GROUP BY realm_id, member_id
ON CONFLICT (realm_id, member_id) DO UPDATE SET
    purchases = m.purchases + excluded.purchases,
    points_spent = m.points_spent + excluded.points_spent,
    first_purchase_at = least(m.first_purchase_at, excluded.first_purchase_at),
    last_purchase_at = greatest(m.last_purchase_at, excluded.last_purchase_at)
"""


def plan(rows: Sequence[Purchase], settings: Settings) -> list[Statement]:
    """The one statement for a batch, on its first event per purchase id."""
    unique: dict[str, Purchase] = {}
    for row in rows:
        unique.setdefault(row.purchase_id, row)
    return [(_APPLY, [rows_param(map(_ROW, unique.values()))])] if unique else []


async def apply(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[Purchase], settings: Settings
) -> None:
    """Store new purchases and add them to the daily item sales and the members' spend.

    Runs inside the runtime's transaction and never commits. Within a batch the first event for
    a purchase id is the one stored, as it would be across batches.
    """
    await run_plan(conn, rows, plan, settings)


_ROW = attrgetter(
    *("purchase_id", "event_id", "realm_id", "member_id", "username", "item_id", "item_name"),
    *("cost", "completed_at"),
)


# The purchase stored for the event (none when an earlier event stored its purchase id), and the
# daily item sales and member spend it counts in. ``purchases`` has no index on event_id: a
# trace reads the table through, which is fine for an operator's one-off look.
TRACE = (
    "SELECT * FROM purchases WHERE event_id = %s",
    "SELECT s.* FROM item_sales_daily s JOIN purchases p ON s.realm_id = p.realm_id"
    " AND s.item_id = p.item_id AND s.day = (p.completed_at AT TIME ZONE 'UTC')::date"
    " WHERE p.event_id = %s",
    "SELECT m.* FROM member_spend m JOIN purchases p USING (realm_id, member_id)"
    " WHERE p.event_id = %s",
)

GROUP: ConsumerGroup[Purchase] = ConsumerGroup(
    name="purchases",
    event_types=(EventType.PURCHASE_COMPLETED.value,),
    tables=("purchases", "item_sales_daily", "member_spend"),
    rows_from=rows_from,
    apply=apply,
    plan=plan,
    trace=TRACE,
)
