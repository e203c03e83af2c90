"""The ``archive`` group: every event on every topic, ``other`` included, into ``events``.

For ad-hoc SQL over all history (``SELECT payload->'data' FROM events WHERE type = ...``). It is
also the worked example of adding a group (README, "Add a consumer group").

Delivery guarantee: exactly once. ``event_id`` is the primary key, so a DRIP retry or a replay of
an event already archived changes nothing (the first record of an event is the one kept);
offsets are stored with the rows by the runtime.

The mapping is deliberately lenient: an archive that dropped events with an odd ``realmId`` or
``timestamp`` would be useless for finding them. Those columns are left NULL instead, and the
payload keeps the original values. Only what PostgreSQL cannot store (U+0000, an id too long
for the primary key's index) is a dead letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

import psycopg

from consumers.api import ConsumerGroup, Event, Settings, UnusableEvent, instant, realm_id_of


@dataclass(frozen=True, slots=True)
class ArchivedEvent:
    """One row of ``events``, fields in column order."""

    event_id: str
    event_type: str
    realm_id: str | None
    occurred_at: datetime | None
    received_at: datetime | None
    topic: str
    partition: int
    offset: int
    payload: str


def _occurred_at(payload: dict[str, Any]) -> datetime | None:
    try:
        return instant(payload, "timestamp", "timestamp")
    except UnusableEvent:
        return None  # kept in the payload as sent; only the typed column stays empty


def rows_from(event: Event, settings: Settings) -> ArchivedEvent:
    """Map any event to its archive row, the payload as the bytes DRIP signed.

    The body goes to ``jsonb`` as it came, so numbers keep their exact value (``10**30`` stays
    ``10**30``). What ``jsonb`` cannot hold (a U+0000 escape, an unpaired surrogate) is refused
    by PostgreSQL, and that event becomes a dead letter (:mod:`consumers.engine.faults`).
    """
    env = event.envelope
    return ArchivedEvent(
        event_id=event.event_id,
        event_type=event.event_type or str(event.payload.get("type") or ""),
        realm_id=realm_id_of(event.payload),
        occurred_at=_occurred_at(event.payload),
        received_at=env.received_at,
        topic=env.topic,
        partition=env.partition,
        offset=env.offset,
        payload=env.value.decode("utf-8"),
    )


_INSERT = """
INSERT INTO events (event_id, type, realm_id, occurred_at, received_at, topic, "partition",
                    "offset", payload)
SELECT e.event_id, e.type, e.realm_id, e.occurred_at, e.received_at, e.topic, e.part, e.off,
       e.payload::jsonb
FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[],
            %s::text[], %s::int[], %s::bigint[], %s::text[])
     AS e(event_id, type, realm_id, occurred_at, received_at, topic, part, off, payload)
ON CONFLICT (event_id) DO NOTHING
"""


async def apply(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[ArchivedEvent], settings: Settings
) -> None:
    """Insert the batch in one statement; events already archived are left as they are.

    Rows come in offset order, and a repeated id within the batch conflicts with its first
    copy, so the first record of an event wins here as it does across batches.
    """
    if not rows:
        return
    columns = zip(*(astuple(row) for row in rows), strict=True)
    await conn.execute(_INSERT, [list(column) for column in columns])


# The archived record, without its payload (``drip-bridge psql`` shows that).
TRACE = (
    'SELECT event_id, type, realm_id, occurred_at, received_at, topic, "partition", "offset"'
    " FROM events WHERE event_id = %s",
)

GROUP: ConsumerGroup[ArchivedEvent] = ConsumerGroup(
    name="archive",
    event_types=None,
    tables=("events",),
    rows_from=rows_from,
    apply=apply,
    trace=TRACE,
)
