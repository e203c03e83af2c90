"""Rows PostgreSQL refuses: find them, and turn them into dead letters.

A mapping checks what it can, but the database has the last word (a value out of a column's
range, a constraint the mapping did not foresee). Such an error is not transient: retrying the
batch would fail the same way for ever and hold up every event behind it. So when a batch is
refused for its data, each row is tried on its own in a transaction that is always rolled
back; the rows PostgreSQL refuses become dead letters with its message, and the rest of the
batch is applied as usual.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg
import psycopg.errors

from consumers.decode import Batch, RecordLike, dead_letter
from consumers.group import ConsumerGroup
from consumers.transaction import use_schema
from dripbridge.settings import Settings

REFUSED = (psycopg.errors.DataError, psycopg.errors.IntegrityError)
"""Errors caused by the data of a batch, not by the state of the database or the network."""


async def set_aside_refused(
    conn: psycopg.AsyncConnection[Any],
    group: ConsumerGroup[Any],
    batch: Batch,
    settings: Settings,
    *,
    schema: str | None = None,
) -> Batch:
    """``batch`` without the rows PostgreSQL refuses, which become dead letters instead.

    Each row is applied alone in a transaction that is rolled back whatever happens, so this
    changes nothing in the database; the caller applies the returned batch as usual. ``schema``
    is the shadow schema of a replay, as for :func:`consumers.transaction.apply_batch`.
    """
    rows: list[Any] = []
    sources: list[RecordLike] = []
    letters = list(batch.dead_letters)
    for row, record in zip(batch.rows, batch.sources, strict=True):
        try:
            async with conn.transaction():
                await use_schema(conn, schema)
                await group.apply(conn, [row], settings)
                raise psycopg.Rollback()
        except REFUSED as exc:
            reason = exc.diag.message_primary or str(exc)
            letters.append(dead_letter(record, f"PostgreSQL refused the event: {reason}"))
        else:
            rows.append(row)
            sources.append(record)
    return dataclasses.replace(batch, rows=rows, sources=sources, dead_letters=letters)
