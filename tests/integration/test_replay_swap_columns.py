"""The swap with the column kinds a future group may use: bigserial, identity, generated.

No registered group has them yet, so a group of this test owns a scratch table made here (the
session database is this test run's own; the table is dropped afterwards).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
import pytest

from consumers.api import ConsumerGroup, Event
from consumers.ops import replay
from core.settings import Settings
from tests.factories import make_event
from tests.records import produce

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]
TABLE = "replay_scratch_items"


def rows_from(event: Event, settings: Settings) -> tuple[str, int]:
    return event.event_id, int(event.payload["data"]["amount"])


async def apply(conn: Conn, rows: Sequence[tuple[str, int]], settings: Settings) -> None:
    await conn.execute(
        f"INSERT INTO {TABLE} (event_id, amount) SELECT * FROM unnest(%s::text[], %s::int[])"
        " ON CONFLICT (event_id) DO NOTHING",
        [[r[0] for r in rows], [r[1] for r in rows]],
    )


GROUP: ConsumerGroup[tuple[str, int]] = ConsumerGroup(
    name="scratch",
    event_types=("quest.started",),
    tables=(TABLE,),
    rows_from=rows_from,
    apply=apply,
)


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    async with await psycopg.AsyncConnection.connect(
        db_settings.libpq_url, autocommit=True
    ) as connection:
        await connection.execute(
            f"""
            CREATE TABLE {TABLE} (
                id       bigserial PRIMARY KEY,
                seq_no   bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
                event_id text NOT NULL UNIQUE,
                amount   integer NOT NULL,
                doubled  integer GENERATED ALWAYS AS (amount * 2) STORED
            )
            """
        )
        try:
            yield connection
        finally:
            await connection.execute(f"DROP TABLE {TABLE}")


async def test_serial_identity_and_generated_columns_survive_the_swap(
    conn: Conn, settings: Settings, db_settings: Settings
) -> None:
    run = settings.model_copy(update={"database_url": db_settings.database_url})
    # Rows the live side made earlier move both sequences on; the rebuild must not reuse them.
    for n in range(5):
        await conn.execute(f"INSERT INTO {TABLE} (event_id, amount) VALUES (%s, 0)", [f"old{n}"])
    events = [make_event("quest.started", id=f"e{n}", data={"amount": n}) for n in range(12)]
    sent = await produce(run, events)

    summary = await replay.from_beginning(run, GROUP)

    assert (summary.records, summary.tables_swapped) == (sent, (TABLE,))
    cur = await conn.execute(f"SELECT event_id, amount, doubled, id, seq_no FROM {TABLE}")
    rows = await cur.fetchall()
    assert sorted((e, a, d) for e, a, d, *_ in rows) == sorted(
        (f"e{n}", n, 2 * n) for n in range(12)
    )
    # New rows after the swap get fresh values from both sequences: no duplicate key.
    for n in range(3):
        await conn.execute(f"INSERT INTO {TABLE} (event_id, amount) VALUES (%s, 1)", [f"new{n}"])
    cur = await conn.execute(
        f"SELECT count(*), count(DISTINCT id), count(DISTINCT seq_no) FROM {TABLE}"
    )
    assert await cur.fetchone() == (15, 15, 15)
    cur = await conn.execute(
        f"SELECT min(n.seq_no) > max(o.seq_no) FROM {TABLE} n, {TABLE} o"
        " WHERE n.event_id LIKE 'new%%' AND o.event_id LIKE 'e%%'"
    )
    assert await cur.fetchone() == (True,)
