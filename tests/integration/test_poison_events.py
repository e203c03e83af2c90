"""Poison events through the real runtime: each is a dead letter where it cannot be stored, and
never stops a group or the events around it.

Every poison event of :mod:`tests.poison` is published between good events of its topic, all
before the groups start, so each sits in a batch with good events. Each group then runs through
the real runtime against real Kafka and PostgreSQL until its stored offsets cover every record:
it must not exit, every good event must be applied, each poison event must be a dead letter in
exactly the groups that cannot store it (by event id) and stored by the others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from consumers import registry
from core import contract
from core.settings import Settings
from core.topics import ensure_topics
from tests.factories import make_event
from tests.group_runs import dead_letter_errors, run_until_stored
from tests.poison import LONG_ID, corpus

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]

# Where each group keeps one row per stored event, by event id.
_STORED_IDS = {
    "leaderboard": "SELECT event_id FROM point_awards",
    "streaks": "SELECT event_id FROM quest_completions",
    "purchases": "SELECT event_id FROM purchases",
    "archive": "SELECT event_id FROM events",
}
_GOOD_TYPES = ("member.points.awarded", "quest.completed", "store.purchase.completed")


def _good(event_id: str, event_type: str) -> bytes:
    event = make_event(event_type, id=event_id)
    if event_type == "store.purchase.completed":
        event["data"]["purchase"]["id"] = event_id
    return orjson.dumps(event)


async def _publish(settings: Settings, bodies: list[tuple[str, bytes]]) -> None:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        max_request_size=settings.max_record_bytes,
    )
    await producer.start()
    try:
        for event_type, body in bodies:
            try:
                event = orjson.loads(body)
            except orjson.JSONDecodeError:
                event = {"id": body.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode()}
            event_id = str(event.get("id") or contract.event_identity(event))
            headers = contract.build_headers(
                event_id, event_type, contract.realm_id_of(event), datetime.now(UTC), "raw"
            )
            await producer.send_and_wait(
                contract.topic_for(settings.topic_prefix, event_type),
                body,
                key=contract.key_for(event) if isinstance(event, dict) else None,
                headers=headers,
            )
    finally:
        await producer.stop()


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    async with await psycopg.AsyncConnection.connect(db_settings.libpq_url, autocommit=True) as c:
        yield c


async def test_poison_events_are_dead_letters_only_where_they_cannot_be_stored(
    settings: Settings, db_settings: Settings, conn: Conn
) -> None:
    run = settings.model_copy(update={"database_url": db_settings.database_url})
    tag = run.topic_prefix
    poisons = corpus(tag)
    bodies: list[tuple[str, bytes]] = []
    good: dict[str, list[str]] = {t: [] for t in _GOOD_TYPES}
    for n in range(len(poisons) + 1):  # good events after the last poison one too
        for event_type in _GOOD_TYPES:
            event_id = f"{tag}-good-{event_type}-{n}"
            bodies.append((event_type, _good(event_id, event_type)))
            good[event_type].append(event_id)
        if n < len(poisons):
            bodies.append((poisons[n].event_type, poisons[n].body))
    await _publish(run, bodies)

    for name in registry.names():
        group = registry.get(name)
        topics = set(group.topics(run.topic_prefix))
        records = sum(1 for t, _ in bodies if contract.topic_for(run.topic_prefix, t) in topics)
        # Fails if the group's runtime exits, and only passes once every record's offset is
        # stored: lag 0 on every partition.
        await run_until_stored(group, run, records, timeout_s=90)

        readable = [
            p for p in poisons if contract.topic_for(run.topic_prefix, p.event_type) in topics
        ]
        dead = await dead_letter_errors(conn, group.group_id(run), run.topic_prefix)
        assert set(dead) == {p.event_id for p in readable if name in p.dead_in}, name
        cur = await conn.execute(_STORED_IDS[name])
        stored = {row[0] for row in await cur.fetchall()}
        expected_good = {i for t, ids in good.items() for i in ids if t in _good_readers(name)}
        assert expected_good <= stored, f"{name}: good events missing"
        assert {p.event_id for p in readable if name not in p.dead_in} <= stored, name
        assert not {p.event_id for p in readable if name in p.dead_in} & stored, name

    cur = await conn.execute(
        "SELECT payload -> 'data' ->> 'newBalance' FROM events WHERE event_id = %s",
        [f"{tag}-poison-huge-balance"],
    )
    assert await cur.fetchone() == ("1000000000000000000000000000000",)
    cur = await conn.execute(
        "SELECT count(*) FROM events WHERE event_id LIKE %s AND payload::text LIKE %s",
        [f"{tag}-%", f"%{LONG_ID}%"],
    )
    assert await cur.fetchone() == (1,)  # the long member id: the archive stores it


def _good_readers(group: str) -> tuple[str, ...]:
    return {
        "leaderboard": ("member.points.awarded",),
        "streaks": ("quest.completed",),
        "purchases": ("store.purchase.completed",),
        "archive": _GOOD_TYPES,
    }[group]
