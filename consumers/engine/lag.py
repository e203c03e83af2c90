"""Consumer lag per partition: what a running group has not applied yet, in records.

A process measures lag over the partitions it holds: Kafka's high-water mark (the offset the
next published record will get) minus the stored next offset. It reports it twice: as
Prometheus gauges, and as rows of ``consumer_lag`` so that the same figures are queryable in
SQL. Rows are written every few seconds and when the process stops, not after every batch:
lag is for people and alerts, and a write per batch would double the commits.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from aiokafka.structs import TopicPartition

from consumers.engine.metrics import ConsumerMetrics

REPORT_EVERY_S = 2.0


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """One partition's end offset, the group's next offset in it, and the difference."""

    topic: str
    partition: int
    end_offset: int
    next_offset: int

    @property
    def lag(self) -> int:
        return max(self.end_offset - self.next_offset, 0)


def measure(
    positions: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int | None]
) -> list[PartitionLag]:
    """Lag of each held partition whose end offset is known (it has been fetched from)."""
    lags = []
    for tp, position in sorted(positions.items()):
        end = ends.get(tp)
        if end is not None:
            lags.append(PartitionLag(tp.topic, tp.partition, end, position))
    return lags


_UPSERT = """
INSERT INTO consumer_lag AS l (group_id, topic, partition, end_offset, next_offset, lag,
                               updated_at)
SELECT %s, t.topic, t.partition, t.end_offset, t.next_offset, t.lag, now()
FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::bigint[], %s::bigint[])
    AS t(topic, partition, end_offset, next_offset, lag)
ON CONFLICT (group_id, topic, partition) DO UPDATE SET
    end_offset = excluded.end_offset, next_offset = excluded.next_offset,
    lag = excluded.lag, updated_at = excluded.updated_at
"""


async def store(
    conn: psycopg.AsyncConnection[Any], group_id: str, lags: Sequence[PartitionLag]
) -> None:
    """Upsert ``lags`` into ``consumer_lag`` (in the caller's transaction, if any)."""
    if not lags:
        return
    await conn.execute(
        _UPSERT,
        [
            group_id,
            [x.topic for x in lags],
            [x.partition for x in lags],
            [x.end_offset for x in lags],
            [x.next_offset for x in lags],
            [x.lag for x in lags],
        ],
    )


class LagReporter:
    """Keeps one group's lag gauges current and says when ``consumer_lag`` is due a write."""

    def __init__(self, group_name: str, metrics: ConsumerMetrics) -> None:
        self.group_name = group_name
        self.metrics = metrics
        self._labelled: set[tuple[str, str]] = set()
        self._written_at = float("-inf")

    def observe(self, lags: Sequence[PartitionLag]) -> None:
        """Set the group's total and per-partition gauges; drop partitions no longer held."""
        self.metrics.lag.labels(self.group_name).set(sum(x.lag for x in lags))
        current = {(x.topic, str(x.partition)) for x in lags}
        for topic, partition in self._labelled - current:
            self.metrics.partition_lag.remove(self.group_name, topic, partition)
        gauge = self.metrics.partition_lag
        for x in lags:
            gauge.labels(self.group_name, x.topic, str(x.partition)).set(x.lag)
        self._labelled = current

    def due(self, force: bool = False) -> bool:
        """True when a write is due (and counts it as done): every few seconds, or forced."""
        now = time.monotonic()
        if not force and now - self._written_at < REPORT_EVERY_S:
            return False
        self._written_at = now
        return True
