"""After `drip-bridge demo`, every SQL query of the README returns rows.

The real receiver (on a free port) takes the demo history from the real command; every consumer
group then runs through the real runtime until it has stored the end offset of each partition
it reads and reported no lag. The queries run on a database of this module alone, so a row can
only come from the demo.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from typer.testing import CliRunner

from consumers import registry
from consumers.engine.process import run
from core.contract import EventType, topics
from core.db import migrate
from core.settings import Settings
from dripbridge.cli import app
from tests.databases import scratch_database
from tests.factories import TEST_SECRET
from tests.integration.test_readme_sql import QUERIES
from tests.receivers import serving
from tests.topics import new_prefix

pytestmark = pytest.mark.integration

CATCH_UP_TIMEOUT_S = 40
_SUMMARY = re.compile(r"sent (\d+) event\(s\) to \S+: (\d+) accepted, (\d+) refused")


async def _end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        parts = [
            TopicPartition(topic, p)
            for topic in topics(settings.topic_prefix)
            for p in range(settings.topic_partitions)
        ]
        ends = await consumer.end_offsets(parts)
        return {(tp.topic, tp.partition): end for tp, end in ends.items() if end > 0}
    finally:
        await consumer.stop()


async def _caught_up(
    conn: psycopg.AsyncConnection[Any], settings: Settings, ends: dict[tuple[str, int], int]
) -> bool:
    """Every group stored each end offset of its topics, and says so in consumer_lag."""
    for name in registry.names():
        group = registry.get(name)
        group_id = group.group_id(settings)
        wanted = {
            key: end for key, end in ends.items() if key[0] in group.topics(settings.topic_prefix)
        }
        cur = await conn.execute(
            "SELECT topic, partition, next_offset FROM consumer_offsets WHERE group_id = %s",
            [group_id],
        )
        stored = {(topic, partition): offset for topic, partition, offset in await cur.fetchall()}
        if any(stored.get(key) != end for key, end in wanted.items()):
            return False
        cur = await conn.execute(
            "SELECT count(*), coalesce(sum(lag), 0) FROM consumer_lag WHERE group_id = %s",
            [group_id],
        )
        reported, lag = await cur.fetchone() or (0, 0)
        if reported == 0 or lag != 0:
            return False
    return True


async def _run_groups_until_caught_up(settings: Settings) -> None:
    ends = await _end_offsets(settings)
    stop = asyncio.Event()
    groups = asyncio.create_task(run(settings, [], stop))
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    try:
        async with await psycopg.AsyncConnection.connect(
            settings.libpq_url, autocommit=True
        ) as conn:
            while not await _caught_up(conn, settings, ends):
                assert not groups.done(), f"the groups stopped early: {groups.exception()!r}"
                assert time.monotonic() < deadline, "the groups did not catch up in time"
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(groups, 30)


@pytest.fixture(scope="module")
def demo_db(
    kafka_settings: Settings, db_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A database of its own, filled by the groups from the demo sent to the real receiver."""
    prefix = new_prefix()
    with scratch_database(db_settings, "drip_demo") as database:
        migrate(database)
        settings = kafka_settings.model_copy(
            update={
                "topic_prefix": prefix,
                "topic_partitions": 3,
                "group_id_prefix": f"{prefix}-",
                "database_url": database.database_url,
                "batch_max_wait_ms": 50,
            }
        )
        with serving(settings) as url, pytest.MonkeyPatch.context() as patch:
            patch.chdir(tmp_path_factory.mktemp("demo"))  # no developer's .env
            result = CliRunner().invoke(
                app, ["demo", "--url", url], env={"DRIP_WEBHOOK_SECRETS": TEST_SECRET}
            )
        assert result.exit_code == 0, result.output
        found = _SUMMARY.search(result.stdout)
        assert found, result.stdout
        sent, accepted, refused = map(int, found.groups())
        assert (accepted, refused) == (sent, 0)
        asyncio.run(_run_groups_until_caught_up(settings))
        yield settings


def test_the_only_dead_letter_is_the_unusable_award(demo_db: Settings) -> None:
    with psycopg.connect(demo_db.libpq_url) as conn:
        rows = conn.execute(
            "SELECT group_id, topic, convert_from(payload, 'UTF8')::jsonb -> 'data' -> 'member'"
            " FROM dead_letters"
        ).fetchall()
    assert len(rows) == 1
    ((group_id, topic, member),) = rows
    assert group_id == f"{demo_db.group_id_prefix}leaderboard"
    assert topic == f"{demo_db.topic_prefix}.{EventType.POINTS_AWARDED}"
    assert "id" not in member


@pytest.mark.parametrize("query", QUERIES, ids=[q.split("\n")[0][:40] for q in QUERIES])
def test_readme_query_returns_rows(demo_db: Settings, query: str) -> None:
    with psycopg.connect(demo_db.libpq_url) as conn:
        rows = conn.execute(query).fetchall()
    assert rows, f"no row after `drip-bridge demo` for:\n{query}"
