"""The archive group through the real runtime: every topic, from the earliest offset, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest

from consumers.groups.archive import GROUP
from core import contract
from core.settings import Settings
from tests.factories import GUIDE_SAMPLES, make_event
from tests.group_db import emptied
from tests.group_runs import dead_letter_errors, run_until_stored
from tests.records import produce

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]
NUL_RECORD = ("app.note", b'{"type": "app.note", "note": "a\\u0000b"}')


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    async with emptied(db_settings, GROUP) as connection:
        yield connection


@pytest.fixture
def run(settings: Settings, db_settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "database_url": db_settings.database_url,
            "batch_max_records": 5,
            "batch_max_wait_ms": 50,
        }
    )


def history() -> list[dict[str, Any]]:
    """Every documented type, custom types, and one event without a timestamp."""
    events = [make_event(t, id=f"doc-{n}") for n, t in enumerate(sorted(GUIDE_SAMPLES))]
    events += [make_event(f"app.custom.{n}", id=f"custom-{n}") for n in range(4)]
    untimed = make_event("app.untimed", id="untimed")
    del untimed["timestamp"]
    return [*events, untimed]


async def archived(conn: Conn) -> dict[str, tuple[Any, ...]]:
    cur = await conn.execute(
        "SELECT event_id, type, realm_id, occurred_at, topic, payload, received_at IS NOT NULL"
        " FROM events"
    )
    return {row[0]: tuple(row[1:]) for row in await cur.fetchall()}


def expected_row(prefix: str, event: dict[str, Any]) -> tuple[Any, ...]:
    stamp = event.get("timestamp")
    return (
        event["type"],
        event["realmId"],
        datetime.fromisoformat(stamp).astimezone(UTC) if stamp else None,
        contract.topic_for(prefix, event["type"]),
        event,
        True,
    )


async def test_backfills_history_on_every_topic(run: Settings, conn: Conn) -> None:
    events = history()
    # Published before the group ever ran: a new group starts at the earliest offset.
    retries = [events[0], events[-2]]
    sent = await produce(run, [*events, *retries, NUL_RECORD])

    await run_until_stored(GROUP, run, sent)

    prefix = run.topic_prefix
    assert await archived(conn) == {e["id"]: expected_row(prefix, e) for e in events}
    cur = await conn.execute("SELECT DISTINCT topic FROM events WHERE type LIKE 'app.%'")
    assert await cur.fetchall() == [(f"{prefix}.other",)]
    errors = await dead_letter_errors(conn, GROUP.group_id(run), prefix)
    assert list(errors.values()) == [
        "PostgreSQL refused the event (22P05): unsupported Unicode escape sequence"
    ]


async def test_continues_where_it_stopped(run: Settings, conn: Conn) -> None:
    first = [make_event("app.first", id=f"a{n}") for n in range(6)]
    sent = await produce(run, first)
    await run_until_stored(GROUP, run, sent)
    second = [make_event("member.left", id=f"b{n}") for n in range(6)]
    sent += await produce(run, [*second, first[0]])

    await run_until_stored(GROUP, run, sent)

    rows = await archived(conn)
    assert sorted(rows) == sorted(e["id"] for e in [*first, *second])
    cur = await conn.execute("SELECT payload FROM events WHERE event_id = 'b3'")
    assert await cur.fetchone() == (orjson.loads(orjson.dumps(second[3])),)
