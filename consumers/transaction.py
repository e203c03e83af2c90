"""One batch, one PostgreSQL transaction: effects, dead letters and offsets commit together."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from consumers import dead_letters, offsets
from consumers.decode import Batch
from consumers.group import ConsumerGroup
from dripbridge.settings import Settings


async def plan_each_batch(conn: psycopg.AsyncConnection[Any]) -> None:
    """Have PostgreSQL plan a batch's statements for that batch, on this connection from now on.

    psycopg prepares a statement run five times, and PostgreSQL then settles on a generic plan,
    made while the tables may still be small (a new database, a replay's shadow tables) and
    kept as they grow: a sequential scan chosen then reads the whole table on every later
    batch. Planning each batch's few statements costs under a millisecond.
    """
    await conn.execute("SET plan_cache_mode = force_custom_plan")


async def use_schema(conn: psycopg.AsyncConnection[Any], schema: str | None) -> None:
    """Put ``schema`` first in ``search_path`` for the current transaction (None: no change)."""
    if schema is not None:
        await conn.execute(
            sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema))
        )


async def apply_batch(
    conn: psycopg.AsyncConnection[Any],
    group: ConsumerGroup[Any],
    batch: Batch,
    settings: Settings,
    *,
    schema: str | None = None,
    on_sent: Callable[[], object] | None = None,
) -> None:
    """Apply ``batch`` atomically: all of it and its offsets, or nothing.

    The offsets are moved first: that compare-and-set locks the partitions' offset rows, so a
    second process holding the same partitions waits there, and its batch is then refused
    (:class:`consumers.offsets.OffsetsMoved`) and rolled back whole.

    The commit does not wait for the WAL flush (``synchronous_commit`` off for this
    transaction only): that is what makes small batches cheap, and it loses nothing, since
    effects and offsets are lost or kept together.

    ``schema``, when given, is put first in ``search_path`` for this transaction only; the
    group's unqualified table names then resolve to that schema's tables (replay builds into
    shadow tables this way), and anything it lacks falls back to ``public``.

    ``on_sent`` is called once every statement is on its way, before waiting for PostgreSQL to
    run them: the runtime then maps the next batch while PostgreSQL applies this one.
    """
    # One pipeline: the statements go out together and the batch waits for PostgreSQL about
    # twice (sync, commit) rather than once per statement.
    async with conn.pipeline() as pipeline, conn.transaction():
        # Safe to skip waiting for the WAL flush: a commit lost in a PostgreSQL crash loses its
        # offsets with it, and the records are read again from Kafka.
        await conn.execute("SET LOCAL synchronous_commit TO off")
        await use_schema(conn, schema)
        advanced = await offsets.advance(conn, group.group_id, batch.moves)
        if batch.rows:
            await group.apply(conn, batch.rows, settings)
        await dead_letters.insert(conn, group.group_id, batch.dead_letters)
        if on_sent is not None:
            on_sent()
        await pipeline.sync()
        advanced.confirm()


async def apply_effects(
    conn: psycopg.AsyncConnection[Any], group: ConsumerGroup[Any], batch: Batch, settings: Settings
) -> None:
    """Apply ``batch``'s rows and dead letters atomically on the live tables, moving no offsets.

    For re-applying a range of records the group has already been through (``replay --since``):
    the groups' idempotence makes that change nothing that is already right, and leaving the
    stored offsets alone lets it run beside the group's live processes.
    """
    async with conn.transaction():
        if batch.rows:
            await group.apply(conn, batch.rows, settings)
        await dead_letters.insert(conn, group.group_id, batch.dead_letters)
