"""Offsets kept in PostgreSQL, next to the effects they describe.

``consumer_offsets`` holds, per (group, topic, partition), the offset of the next record to
apply. The runtime moves it in the same transaction as a batch's effects, and only from the
value it last read or wrote (a compare-and-set): when another process of the group has moved
it meanwhile, the batch is refused with :class:`OffsetsMoved` and nothing of it is committed.
That check, not Kafka's group membership, is what keeps a zombie or a half-finished rebalance
from applying a record twice.

Table names are unqualified on purpose: a runner that puts another schema first in
``search_path`` (replay into shadow tables) gets that schema's copy when it has one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from aiokafka.structs import TopicPartition

from core.errors import DripBridgeError


class OffsetsMoved(DripBridgeError):
    """Stored offsets are not where this process last saw them; re-read them and seek.

    Another process of the group took the partition over, or a commit's answer was lost on
    the way back. Either way the batch in hand must not be applied.
    """


@dataclass(frozen=True, slots=True)
class Move:
    """Advance one partition's stored offset from ``expected`` to ``next_offset``."""

    topic: str
    partition: int
    expected: int
    next_offset: int


_CLAIM = """
INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
SELECT %s, * FROM unnest(%s::text[], %s::int[], %s::bigint[])
ON CONFLICT (group_id, topic, partition) DO NOTHING
"""

# Records before a partition's log start are gone (retention); start from the log start.
_RAISE_TO_LOG_START = """
UPDATE consumer_offsets o SET next_offset = s.start, updated_at = now()
FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS s(topic, partition, start)
WHERE o.group_id = %s AND o.topic = s.topic AND o.partition = s.partition
  AND o.next_offset < s.start
"""

_READ = """
SELECT o.topic, o.partition, o.next_offset
FROM consumer_offsets o
JOIN unnest(%s::text[], %s::int[]) AS s(topic, partition)
  ON o.topic = s.topic AND o.partition = s.partition
WHERE o.group_id = %s
"""

_ADVANCE = """
UPDATE consumer_offsets o SET next_offset = m.next_offset, updated_at = now()
FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::bigint[])
    AS m(topic, partition, expected, next_offset)
WHERE o.group_id = %s AND o.topic = m.topic AND o.partition = m.partition
  AND o.next_offset = m.expected
"""


async def claim(
    conn: psycopg.AsyncConnection[Any], group_id: str, log_starts: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """The stored next offset of each partition, creating missing rows at the log start.

    Runs in a transaction of its own. A partition seen for the first time starts at the
    beginning of its log, so a new group reads every event ever published.
    """
    tps = sorted(log_starts)
    topics = [tp.topic for tp in tps]
    partitions = [tp.partition for tp in tps]
    starts = [log_starts[tp] for tp in tps]
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(_CLAIM, [group_id, topics, partitions, starts])
        await cur.execute(_RAISE_TO_LOG_START, [topics, partitions, starts, group_id])
        await cur.execute(_READ, [topics, partitions, group_id])
        rows = await cur.fetchall()
    return {TopicPartition(topic, partition): offset for topic, partition, offset in rows}


class Advance:
    """A compare-and-set of stored offsets that was sent; :meth:`confirm` once it has run.

    In pipeline mode the answer arrives with the next sync, so checking it is a separate step:
    the caller can queue the batch's statements behind it and wait for everything at once.
    """

    def __init__(self, cursor: psycopg.AsyncCursor[Any], moves: int, group_id: str) -> None:
        self._cursor, self._moves, self._group_id = cursor, moves, group_id

    def confirm(self) -> None:
        """Raise :class:`OffsetsMoved` unless every partition moved; the caller rolls back."""
        moved = self._cursor.rowcount if self._moves else 0
        if moved != self._moves:
            raise OffsetsMoved(
                f"group {self._group_id}: {self._moves - max(moved, 0)} of {self._moves} "
                "partitions were moved by another process; re-reading stored offsets"
            )


async def advance(
    conn: psycopg.AsyncConnection[Any], group_id: str, moves: Sequence[Move]
) -> Advance:
    """Compare-and-set the stored offsets, inside the caller's transaction.

    :meth:`Advance.confirm` raises :class:`OffsetsMoved` when any partition's stored offset
    was not ``expected``; the caller must then roll back. The updated rows stay locked until
    the transaction ends, so two processes holding the same partitions apply their batches
    one after the other and the second one is refused.
    """
    ordered = sorted(moves, key=lambda m: (m.topic, m.partition))
    cur = conn.cursor()
    if ordered:
        params = [
            [m.topic for m in ordered],
            [m.partition for m in ordered],
            [m.expected for m in ordered],
            [m.next_offset for m in ordered],
            group_id,
        ]
        await cur.execute(_ADVANCE, params)
    return Advance(cur, len(ordered), group_id)
