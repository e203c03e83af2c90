"""`drip-bridge consumers` on real Kafka and PostgreSQL: who runs each group, and stopped vs
caught up; and a clear line when the topics do not exist yet."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from consumers.engine.loop import GroupRuntime
from consumers.groups.purchases import GROUP
from core.settings import Settings
from tests.group_runs import stored_offsets
from tests.integration.test_lag import purchases
from tests.integration.test_runtime import wait_for
from tests.process_env import process_env
from tests.records import produce
from tests.topics import new_prefix

pytestmark = pytest.mark.integration

DRIP_BRIDGE = str(Path(sys.executable).with_name("drip-bridge"))


async def consumers(run: Settings, *args: str) -> tuple[int, str, str]:
    """`drip-bridge consumers ARGS` as an operator runs it: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        DRIP_BRIDGE,
        "consumers",
        *args,
        env=process_env(run),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def purchases_entry(run: Settings) -> dict[str, Any]:
    code, out, err = await consumers(run, "--json")
    assert code == 0, err
    entry: dict[str, Any] = {g["name"]: g for g in json.loads(out)}["purchases"]
    return entry


async def test_members_show_who_runs_and_stopped_is_not_caught_up(
    settings: Settings, db_settings: Settings
) -> None:
    run = settings.model_copy(
        update={"database_url": db_settings.database_url, "batch_max_wait_ms": 50}
    )
    sent = await produce(run, purchases(12))
    assert (await purchases_entry(run))["state"] == "stopped, behind"

    stop = asyncio.Event()
    task = asyncio.create_task(GroupRuntime(GROUP, run).run(stop))
    try:
        async with await psycopg.AsyncConnection.connect(
            db_settings.libpq_url, autocommit=True
        ) as conn:

            async def applied() -> bool:
                assert not task.done(), task
                return await stored_offsets(conn, GROUP.group_id(run), run.topic_prefix) == sent

            await wait_for(applied, 60, "the group to apply every event")

        async def holds_every_partition() -> bool:
            members = (await purchases_entry(run))["members"]
            return len(members) == 1 and len(members[0]["partitions"]) == run.topic_partitions

        await wait_for(holds_every_partition, 60, "the member to hold every partition")
        running = await purchases_entry(run)
        assert (running["state"], running["running"], running["lag"]) == ("caught up", True, 0)
        (member,) = running["members"]
        assert member["client_id"] == "drip-bridge-purchases"
        assert member["member_id"].startswith("drip-bridge-purchases-")
        assert "127.0.0.1" in member["host"]
        topic = f"{run.topic_prefix}.store.purchase.completed"
        assert sorted(member["partitions"]) == [
            f"{topic}[{p}]" for p in range(run.topic_partitions)
        ]
        code, table, err = await consumers(run)
        assert code == 0, err
        assert "Processes running" in table and "caught up" in table
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)

    stopped = await purchases_entry(run)
    assert (stopped["state"], stopped["running"], stopped["lag"]) == ("stopped", False, 0)
    assert stopped["members"] == []


def test_missing_topics_are_one_line_and_a_failure(db_settings: Settings, tmp_path: Path) -> None:
    fresh = db_settings.model_copy(update={"topic_prefix": new_prefix()})
    done = subprocess.run(
        [DRIP_BRIDGE, "consumers"],
        env=process_env(fresh),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "CancelledError" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: none of the 7 topics under DRIP_TOPIC_PREFIX={fresh.topic_prefix} exists yet: "
        "`drip-bridge topics create` makes them (so do serve and consume), or fix "
        "DRIP_TOPIC_PREFIX"
    ]
