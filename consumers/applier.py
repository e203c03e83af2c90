"""Applying one mapped batch of a group: its transaction, and what became of it.

The runtime's loop reads and maps; this module commits. A batch either commits whole (effects,
dead letters and next offsets in one transaction, :func:`consumers.transaction.apply_batch`) or
not at all, and the :class:`Outcome` tells the loop which, and why not: stale (a rebalance or
an earlier failure came in since it was read), offsets moved by another process, or a transient
failure to back off from. In every case but a commit the positions are marked for a resync, so
the batch's records are read again from the stored offsets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from consumers.connection import GroupConnection
from consumers.decode import Batch
from consumers.faults import TRANSIENT, DeadLetterRun, refused_for_data
from consumers.group import ConsumerGroup
from consumers.metrics import ConsumerMetrics
from consumers.offsets import OffsetsMoved
from consumers.positions import Positions
from consumers.transaction import apply_batch, apply_batch_isolating
from dripbridge.settings import Settings

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
            if self._pos.needs_resync or self._pos.stale(batch):
                # A rebalance or a failed batch came in since this one was read.
                self._pos.needs_resync = True
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
                self._pos.needs_resync = True
                return Outcome(batch, committed=False)
            except TRANSIENT as exc:
                self._pos.needs_resync = True
                await self._db.drop()
                return Outcome(batch, committed=False, failure=exc)
            self._pos.next.update(batch.next_offsets())
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
