"""Dead letters: records a group could not use, kept byte for byte with the reason.

A dead letter is written in the same transaction as the batch it came from, so it exists
exactly when the offset past it is stored; the unique (group, topic, partition, offset) key
makes a re-read batch add nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One unusable record and why it could not be used."""

    topic: str
    partition: int
    offset: int
    event_id: str | None
    event_type: str | None
    error: str
    payload: bytes


_INSERT = """
INSERT INTO dead_letters (group_id, topic, partition, "offset", event_id, event_type, error,
                          payload)
SELECT %s, * FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::text[], %s::text[],
                         %s::text[], %s::bytea[])
ON CONFLICT (group_id, topic, partition, "offset") DO NOTHING
"""


async def insert(
    conn: psycopg.AsyncConnection[Any], group_id: str, letters: Sequence[DeadLetter]
) -> None:
    """Store ``letters`` for ``group_id`` inside the caller's transaction."""
    if not letters:
        return
    await conn.execute(
        _INSERT,
        [
            group_id,
            [d.topic for d in letters],
            [d.partition for d in letters],
            [d.offset for d in letters],
            [d.event_id or None for d in letters],
            [d.event_type or None for d in letters],
            [d.error for d in letters],
            [d.payload for d in letters],
        ],
    )
