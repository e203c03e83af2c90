"""A row PostgreSQL refuses becomes a dead letter; the rest of its batch is applied."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from consumers.api import ConsumerGroup, Event
from core import contract
from core.settings import Settings
from core.topics import ensure_topics
from tests.group_runs import dead_letter_errors, run_until_stored

pytestmark = pytest.mark.integration


def _rows_from(event: Event, settings: Settings) -> tuple[str, int]:
    return event.event_id, int(event.payload["data"]["divisor"])


async def _apply(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[tuple[str, int]], settings: Settings
) -> None:
    # Division by zero is a data error (class 22), like a value out of a column's range: the
    # mapping let it through, PostgreSQL refuses it, and only that row should be set aside.
    await conn.execute(
        "SELECT 100 / d FROM unnest(%s::int[]) AS d", [[divisor for _, divisor in rows]]
    )
    # The effect the test looks for, in a table the migrations built (the archive's).
    await conn.execute(
        'INSERT INTO events (event_id, type, topic, "partition", "offset", payload)'
        " SELECT id, 'divided', 'test', 0, 0, '{}' FROM unnest(%s::text[]) AS id",
        [[event_id for event_id, _ in rows]],
    )


async def test_refused_row_is_dead_lettered_and_the_rest_applied(
    db_settings: Settings, settings: Settings
) -> None:
    settings = settings.model_copy(update={"database_url": db_settings.database_url})
    group: ConsumerGroup[tuple[str, int]] = ConsumerGroup(
        name="divider",
        event_types=("quest.started",),
        tables=(),
        rows_from=_rows_from,
        apply=_apply,
    )
    topic = contract.topic_for(settings.topic_prefix, "quest.started")
    await ensure_topics(settings, [topic])
    divisors = [5, 4, 0, 2, 1]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for i, divisor in enumerate(divisors):
            event = {"type": "quest.started", "realmId": "r", "data": {"divisor": divisor}}
            headers = contract.build_headers(
                f"{settings.topic_prefix}-{i}", "quest.started", "r", datetime.now(UTC), "raw"
            )
            await producer.send_and_wait(
                topic, orjson.dumps(event), key=b"same-partition", headers=headers
            )
    finally:
        await producer.stop()

    await run_until_stored(group, settings, len(divisors))

    async with await psycopg.AsyncConnection.connect(settings.libpq_url, autocommit=True) as conn:
        errors = await dead_letter_errors(conn, group.group_id(settings), settings.topic_prefix)
        cur = await conn.execute(
            "DELETE FROM events WHERE type = 'divided' AND event_id LIKE %s RETURNING event_id",
            [settings.topic_prefix + "-%"],
        )
        applied = sorted(row[0] for row in await cur.fetchall())
    poison = f"{settings.topic_prefix}-2"
    assert errors == {poison: "PostgreSQL refused the event (22012): division by zero"}
    assert applied == [f"{settings.topic_prefix}-{i}" for i in (0, 1, 3, 4)]
