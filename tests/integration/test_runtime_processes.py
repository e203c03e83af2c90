"""``drip-bridge consume leaderboard`` as real processes: killed with SIGKILL, or two at once.

Each test runs the command the operator runs, with its settings in DRIP_* variables, against
real Kafka and PostgreSQL, and checks the tables against the independent expectation.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from consumers.groups.leaderboard import GROUP as LEADERBOARD_GROUP
from core.settings import Settings
from tests.group_db import emptied
from tests.integration.test_runtime import stored_total, tables, wait_for
from tests.leaderboard_model import Stream, expected, generate
from tests.process_env import process_env
from tests.records import produce

pytestmark = pytest.mark.integration

Conn = psycopg.AsyncConnection[Any]
DRIP_BRIDGE = str(Path(sys.executable).with_name("drip-bridge"))


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    async with emptied(db_settings, LEADERBOARD_GROUP) as connection:
        yield connection


class Consumers:
    """Starts ``drip-bridge consume leaderboard`` processes; stops what is left at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"consumer-{len(self.running)}.log").open("wb")
        process = subprocess.Popen(
            [DRIP_BRIDGE, "consume", "leaderboard"], env=self.env, stdout=log, stderr=log
        )
        self.running.append(process)
        return process

    def log(self, n: int) -> str:
        return (self.logs / f"consumer-{n}.log").read_text(errors="replace")

    def stop_all(self) -> list[int]:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=30) for process in self.running]


@pytest.fixture
def consumers(settings: Settings, db_settings: Settings, tmp_path: Path) -> Iterator[Consumers]:
    # Small batches: many transactions, so a kill lands in the middle of the stream.
    env = process_env(
        settings.model_copy(update={"database_url": db_settings.database_url}),
        DRIP_BATCH_MAX_RECORDS="40",
        DRIP_BATCH_MAX_WAIT_MS="50",
    )
    started = Consumers(env, tmp_path)
    yield started
    for process in started.running:
        if process.poll() is None:
            process.kill()
            process.wait()


def partitions_read(log: str) -> dict[str, set[int]]:
    """Topic -> partitions from the last "reading topic[p]@offset, ..." line of a consumer log."""
    line = re.findall(r"reading (.+)", log)[-1]
    held: dict[str, set[int]] = {}
    for topic, partition in re.findall(r"([\w.-]+)\[(\d+)\]@", line):
        held.setdefault(topic, set()).add(int(partition))
    return held


async def produced(settings: Settings, seed: int) -> tuple[Stream, int]:
    stream = generate(seed=seed, members=150, awards_per_member=30)
    return stream, await produce(settings, stream.delivered)


async def test_sigkill_mid_stream_then_restart(
    settings: Settings, conn: Conn, consumers: Consumers
) -> None:
    stream, sent = await produced(settings, seed=21)
    prefix = settings.topic_prefix

    first = consumers.start()

    async def a_quarter_stored() -> bool:
        assert first.poll() is None, consumers.log(0)
        return await stored_total(conn, settings) >= sent // 4

    await wait_for(a_quarter_stored, 60, "a quarter of the stream to be applied")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    at_kill = await stored_total(conn, settings)
    assert at_kill < sent, "the kill came after the whole stream; make the stream longer"

    consumers.start()

    async def all_stored() -> bool:
        return await stored_total(conn, settings) == sent

    await wait_for(all_stored, 90, "the restarted consumer to apply the rest")
    assert consumers.stop_all()[1] == 0, consumers.log(1)
    assert await tables(conn) == expected(stream.usable)
    cur = await conn.execute(
        "SELECT count(*) FROM dead_letters WHERE group_id = %s AND topic LIKE %s",
        [LEADERBOARD_GROUP.group_id(settings), prefix + ".%"],
    )
    assert await cur.fetchone() == (stream.unusable,)


async def test_two_processes_give_the_result_of_one(
    settings: Settings, conn: Conn, consumers: Consumers
) -> None:
    stream = generate(seed=22, members=150, awards_per_member=30)
    half = len(stream.delivered) // 2
    sent = await produce(settings, stream.delivered[:half])
    prefix = settings.topic_prefix

    consumers.start()

    async def some_stored() -> bool:
        return await stored_total(conn, settings) > 0

    await wait_for(some_stored, 60, "the first consumer to start applying")
    consumers.start()  # joins mid-stream: a rebalance hands it part of the partitions

    async def second_holds_partitions() -> bool:
        return "reading " + prefix in consumers.log(1)

    await wait_for(second_holds_partitions, 60, "the second consumer to get partitions")
    # The rest arrives while both run, on every partition: each process applies its share.
    sent += await produce(settings, stream.delivered[half:])

    async def all_stored() -> bool:
        return await stored_total(conn, settings) == sent

    await wait_for(all_stored, 90, "both consumers to apply the stream")
    # Co-partitioned: each process holds the same partition numbers of every topic.
    held = [partitions_read(consumers.log(n)) for n in (0, 1)]
    for topics in held:
        assert len(set(map(frozenset, topics.values()))) == 1, held
    assert not set.intersection(*(set().union(*t.values()) for t in held)), held
    assert consumers.stop_all() == [0, 0], consumers.log(0) + consumers.log(1)
    assert await tables(conn) == expected(stream.usable)
