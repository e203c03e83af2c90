"""One batch, one PostgreSQL transaction: effects, dead letters and offsets commit together."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from consumers import dead_letters, offsets
from consumers.dead_letters import DeadLetter
from consumers.decode import Batch, RecordLike, dead_letter
from consumers.faults import refusal, refused_for_data
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
        advanced = await offsets.advance(conn, group.group_id(settings), batch.moves)
        if batch.rows:
            await group.apply(conn, batch.rows, settings)
        await dead_letters.insert(conn, group.group_id(settings), batch.dead_letters)
        if on_sent is not None:
            on_sent()
        await pipeline.sync()
        advanced.confirm()


async def apply_batch_isolating(
    conn: psycopg.AsyncConnection[Any],
    group: ConsumerGroup[Any],
    batch: Batch,
    settings: Settings,
    *,
    schema: str | None = None,
) -> Batch:
    """Apply ``batch`` as :func:`apply_batch` does, dead-lettering the rows PostgreSQL refuses.

    For a batch whose :func:`apply_batch` was refused for its data (:mod:`consumers.faults`).
    In one transaction: the offsets move, the rows are applied under savepoints, halving any
    slice refused until each refused row stands alone and becomes a dead letter, and the dead
    letters are stored. Returns the batch as committed (refused rows moved to dead letters).
    """
    rows: list[Any] = []
    sources: list[RecordLike] = []
    letters = list(batch.dead_letters)
    async with conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit TO off")
        await use_schema(conn, schema)
        advanced = await offsets.advance(conn, group.group_id(settings), batch.moves)
        advanced.confirm()
        await _apply_halving(
            conn, group, batch.rows, batch.sources, settings, rows, sources, letters
        )
        await dead_letters.insert(conn, group.group_id(settings), letters)
    return dataclasses.replace(batch, rows=rows, sources=sources, dead_letters=letters)


async def _apply_halving(
    conn: psycopg.AsyncConnection[Any],
    group: ConsumerGroup[Any],
    rows: list[Any],
    sources: Sequence[RecordLike],
    settings: Settings,
    applied: list[Any],
    applied_sources: list[RecordLike],
    letters: list[DeadLetter],
) -> None:
    """Apply ``rows`` under a savepoint; when refused for data, each half on its own, in order.

    Halving finds k refused rows among n with about 2k·log2(n) statements, and keeps the rows'
    order, which the groups' rules rely on no more than on batch boundaries.
    """
    try:
        async with conn.transaction():  # a savepoint inside the batch's transaction
            await group.apply(conn, rows, settings)
    except psycopg.Error as exc:
        if not refused_for_data(exc):
            raise
        if len(rows) == 1:
            letters.append(dead_letter(sources[0], refusal(exc)))
            return
        half = len(rows) // 2
        for part in (slice(None, half), slice(half, None)):
            await _apply_halving(
                conn, group, rows[part], sources[part], settings, applied, applied_sources, letters
            )
        return
    applied.extend(rows)
    applied_sources.extend(sources)


async def apply_effects(
    conn: psycopg.AsyncConnection[Any], group: ConsumerGroup[Any], batch: Batch, settings: Settings
) -> None:
    """Apply ``batch``'s rows and dead letters atomically on the live tables, moving no offsets.

    For re-applying a range of records the group has already been through (``replay --since``):
    the groups' idempotence makes that change nothing that is already right, and leaving the
    stored offsets alone lets it run beside the group's live processes.
    """
    letters = list(batch.dead_letters)
    async with conn.transaction():
        if batch.rows:
            await _apply_halving(
                conn, group, list(batch.rows), batch.sources, settings, [], [], letters
            )
        await dead_letters.insert(conn, group.group_id(settings), letters)
