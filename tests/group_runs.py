"""Run one consumer group through the real runtime until it has stored every record's offset."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from consumers.api import ConsumerGroup
from consumers.engine.loop import GroupRuntime
from core.settings import Settings


async def stored_offsets(conn: psycopg.AsyncConnection[Any], group_id: str, prefix: str) -> int:
    """Sum of the group's stored next offsets on the topics under ``prefix``."""
    cur = await conn.execute(
        "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets"
        " WHERE group_id = %s AND topic LIKE %s",
        [group_id, prefix + ".%"],
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def run_until_stored(
    group: ConsumerGroup[Any], settings: Settings, records: int, timeout_s: float = 60
) -> None:
    """Run ``group`` until offsets past ``records`` records are stored, then stop it cleanly.

    Topics start at offset 0, so the stored next offsets add up to the records applied.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(GroupRuntime(group, settings).run(stop))
    deadline = time.monotonic() + timeout_s
    try:
        async with await psycopg.AsyncConnection.connect(
            settings.libpq_url, autocommit=True
        ) as conn:
            while (
                await stored_offsets(conn, group.group_id(settings), settings.topic_prefix)
                < records
            ):
                assert not task.done(), f"group {group.name} stopped early: {task.exception()}"
                assert time.monotonic() < deadline, f"group {group.name} timed out"
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def dead_letter_errors(
    conn: psycopg.AsyncConnection[Any], group_id: str, prefix: str
) -> dict[str, str]:
    """event id -> error of the group's dead letters on the topics under ``prefix``."""
    cur = await conn.execute(
        "SELECT event_id, error FROM dead_letters WHERE group_id = %s AND topic LIKE %s",
        [group_id, prefix + ".%"],
    )
    return {row[0]: row[1] for row in await cur.fetchall()}
