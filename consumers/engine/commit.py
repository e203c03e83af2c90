"""Committing one batch: effects, dead letters and next offsets in one PostgreSQL transaction.

The loop (:mod:`consumers.engine.loop`) reads and maps; this module commits. A batch either
commits whole or not at all, and the :class:`Outcome` tells the loop which, and why not: stale
(a rebalance or an earlier failure came in since it was read), offsets moved by another process,
or a transient failure to back off from. In every case but a commit the positions are marked
for a resync, so the batch's records are read again from the stored offsets.

A batch PostgreSQL refuses for its data (:mod:`consumers.engine.faults`) is applied again with
the refused events as dead letters, found by halving the batch under savepoints.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from consumers.api import ConsumerGroup
from consumers.engine import dead_letters, offsets
from consumers.engine.connection import GroupConnection
from consumers.engine.dead_letters import DeadLetter
from consumers.engine.decode import Batch, RecordLike, dead_letter
from consumers.engine.faults import TRANSIENT, DeadLetterRun, refusal, refused_for_data
from consumers.engine.metrics import ConsumerMetrics
from consumers.engine.offsets import OffsetsMoved
from consumers.engine.positions import Positions
from core.settings import Settings

log = logging.getLogger(__name__)

_LOGGED_PER_BATCH = 5


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a batch: committed, or not (with the failure to back off from, if any)."""

    batch: Batch
    committed: bool
    failure: BaseException | None = None


class BatchApplier:
    """Commits a group's batches one at a time, under the positions' lock.

    ``schema`` is handed to :func:`apply_batch` (shadow tables for replay); live runs leave it
    None.
    """

    def __init__(
        self,
        group: ConsumerGroup[Any],
        settings: Settings,
        db: GroupConnection,
        positions: Positions,
        metrics: ConsumerMetrics,
        schema: str | None = None,
    ) -> None:
        self._group = group
        self._settings = settings
        self._db = db
        self._pos = positions
        self._metrics = metrics
        self._schema = schema
        self._run = DeadLetterRun()

    async def apply(self, batch: Batch, sent: asyncio.Event) -> Outcome:
        """Apply ``batch`` in its transaction; the outcome says whether it committed.

        ``sent`` is set once the batch's statements are on their way (or it ends before), so
        the caller can start reading the next batch while PostgreSQL works on this one.
        """
        try:
            return await self._apply_locked(batch, sent)
        finally:
            sent.set()

    async def _apply_locked(self, batch: Batch, sent: asyncio.Event) -> Outcome:
        name = self._group.name
        async with self._pos.lock:
            if not self._pos.accepts(batch):
                # A rebalance or a failed batch came in since this one was read.
                return Outcome(batch, committed=False)
            for tp, stored, first in batch.gaps:
                log.warning(
                    "group %s: %s[%d] continues at offset %d, stored %d: records in between "
                    "are no longer in Kafka (retention)",
                    *(name, tp.topic, tp.partition, first, stored),
                )
            started = time.perf_counter()
            try:
                conn = await self._db.get()
                try:
                    await apply_batch(
                        conn,
                        self._group,
                        batch,
                        self._settings,
                        schema=self._schema,
                        on_sent=sent.set,
                    )
                except psycopg.Error as exc:
                    if not refused_for_data(exc):
                        raise
                    log.warning(
                        "group %s: PostgreSQL refused a batch for its data (%s: %s); applying "
                        "it again with the refused events as dead letters",
                        *(name, exc.sqlstate, exc.diag.message_primary),
                    )
                    batch = await apply_batch_isolating(
                        conn, self._group, batch, self._settings, schema=self._schema
                    )
            except OffsetsMoved as exc:
                log.info("%s", exc)
                self._pos.invalidate()
                return Outcome(batch, committed=False)
            except TRANSIENT as exc:
                self._pos.invalidate()
                await self._db.drop()
                return Outcome(batch, committed=False, failure=exc)
            self._pos.committed(batch.next_offsets())
            seconds = time.perf_counter() - started
        self._metrics.committed(name, len(batch.rows), len(batch.dead_letters), seconds)
        if batch.dead_letters:
            self._report_dead_letters(batch)
        elif self._run.length:
            self._run.observe(len(batch.rows), [])
            self._metrics.dead_letter_run.labels(name).set(0)
        return Outcome(batch, committed=True)

    def _report_dead_letters(self, batch: Batch) -> None:
        """A log line per dead letter (the first few of a batch) and the same-error alarm."""
        name = self._group.name
        for letter in batch.dead_letters[:_LOGGED_PER_BATCH]:
            log.warning(
                "group %s: dead letter %s[%d]@%d (event %s): %s",
                *(name, letter.topic, letter.partition, letter.offset, letter.event_id),
                letter.error,
            )
        if len(batch.dead_letters) > _LOGGED_PER_BATCH:
            log.warning(
                "group %s: and %d more dead letters in this batch (SELECT * FROM dead_letters)",
                *(name, len(batch.dead_letters) - _LOGGED_PER_BATCH),
            )
        if self._run.observe(len(batch.rows), [d.error for d in batch.dead_letters]):
            log.error(
                "group %s: the last %d events were all dead letters with the same error (%s); "
                "that is more likely a bug or a schema out of step than bad data",
                *(name, self._run.length, self._run.kind),
            )
        self._metrics.dead_letter_run.labels(name).set(self._run.length)


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
    (:class:`consumers.engine.offsets.OffsetsMoved`) and rolled back whole.

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

    For a batch whose :func:`apply_batch` was refused for its data (:mod:`consumers.engine.faults`).
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
