"""``drip-bridge consume leaderboard --processes 2``: one command, two processes, exact tables."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from consumers.groups.leaderboard import GROUP
from core.settings import Settings
from tests.group_db import emptied
from tests.integration.test_runtime import stored_total, tables, wait_for
from tests.leaderboard_model import expected, generate
from tests.process_env import process_env
from tests.records import produce

pytestmark = pytest.mark.integration


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with emptied(db_settings, GROUP) as connection:
        yield connection


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dripbridge", *args],
            env=env,
            cwd=log.parent,
            stdout=out,
            stderr=out,
        )


def _held_by_pid(log: str, prefix: str) -> dict[int, set[str]]:
    """pid -> the partitions of its last "reading" line (log lines carry the process id)."""
    held: dict[int, set[str]] = {}
    for pid, line in re.findall(r"\[(\d+)\] INFO \S+ group \S+: reading (.+)", log):
        held[int(pid)] = set(re.findall(re.escape(prefix) + r"[\w.]+\[\d+\]", line))
    return held


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(child) for child in found.stdout.split()]


async def test_processes_split_the_partitions_and_stop_together(
    settings: Settings,
    db_settings: Settings,
    conn: psycopg.AsyncConnection[Any],
    tmp_path: Path,
) -> None:
    stream = generate(seed=23, members=80, awards_per_member=10)
    sent = await produce(settings, stream.delivered)
    env = process_env(
        settings.model_copy(update={"database_url": db_settings.database_url}),
        DRIP_BATCH_MAX_RECORDS="40",
        DRIP_BATCH_MAX_WAIT_MS="50",
    )
    log = tmp_path / "consume.log"
    parent = _start(["consume", "leaderboard", "--processes", "2"], env, log)
    children: list[int] = []
    try:

        async def both_read() -> bool:
            assert parent.poll() is None, log.read_text()
            return log.read_text().count("reading " + settings.topic_prefix) >= 2

        await wait_for(both_read, 90, "both processes to get partitions")
        children = _children(parent.pid)
        assert len(children) == 2, log.read_text()

        async def split() -> bool:
            held = _held_by_pid(log.read_text(), settings.topic_prefix)
            return set(held) == set(children) and not held[children[0]] & held[children[1]]

        await wait_for(split, 60, "the two processes to hold disjoint partitions")

        async def all_stored() -> bool:
            return await stored_total(conn, settings) == sent

        await wait_for(all_stored, 90, "the two processes to apply the stream")
    finally:
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=60)
    assert parent.returncode == 0, log.read_text()[-3000:]
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert await tables(conn) == expected(stream.usable)
