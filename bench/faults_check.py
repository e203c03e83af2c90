"""The fault suite's verdict: every acknowledged event in its topic at least once and in each
owning group's table exactly once, by event id.

The readers (topics, tables, consumer lag, spool depth) do I/O; :func:`tally` is pure and
compares what the load generator was answered with what they found.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from psycopg import sql

from bench.faults_load import Outcome
from consumers import registry
from core import contract
from core.contract import EventType, Header
from core.settings import Settings

OWNING_TABLES: Mapping[str, tuple[str, ...]] = {
    EventType.POINTS_AWARDED.value: ("point_awards", "events"),
    EventType.QUEST_COMPLETED.value: ("quest_completions", "events"),
    EventType.PURCHASE_COMPLETED.value: ("purchases", "events"),
}
"""Per event type, the tables holding one row per event id: the owning group's and the
archive's (``events``). Every table here has an ``event_id`` column."""

TABLE_GROUPS: Mapping[str, str] = {
    "point_awards": "leaderboard",
    "quest_completions": "streaks",
    "purchases": "purchases",
    "events": "archive",
}
"""The group that owns (and alone writes) each checked table."""


@dataclass(frozen=True)
class Tally:
    """One scenario's figures: what was sent and answered, and where the accepted events are.

    ``lost``: accepted events missing from their topic or from one of their tables.
    ``doubled``: accepted events with more than one row in one of their tables.
    ``unanswered_503``: 503 answers without Retry-After (DRIP would not know when to retry).
    """

    requests: int
    accepted: int
    spooled: int
    unavailable: int
    other: int
    in_topics: int
    in_tables: int
    lost: int
    doubled: int
    unanswered_503: int

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.doubled == 0 and self.unanswered_503 == 0


def tally(
    outcomes: Sequence[Outcome],
    in_topics: Counter[str],
    in_tables: Mapping[str, Counter[str]],
) -> Tally:
    """Compare the answers with the topics' event ids and the tables' rows per event id.

    An event answered 503 (or not at all) may still be in a topic and in the tables (a publish
    that timed out can land later): it is not counted as accepted either way.
    """
    accepted = [o for o in outcomes if o.accepted]
    topic_hits = sum(1 for o in accepted if in_topics[o.event_id] >= 1)
    table_hits = lost = doubled = 0
    for o in accepted:
        rows = [in_tables[table][o.event_id] for table in OWNING_TABLES[o.event_type]]
        if all(n == 1 for n in rows):
            table_hits += 1
        if in_topics[o.event_id] == 0 or any(n == 0 for n in rows):
            lost += 1
        if any(n > 1 for n in rows):
            doubled += 1
    statuses = Counter(o.status for o in outcomes)
    return Tally(
        requests=len(outcomes),
        accepted=len(accepted),
        spooled=sum(1 for o in accepted if o.spooled),
        unavailable=statuses[503],
        other=len(outcomes) - len(accepted) - statuses[503],
        in_topics=topic_hits,
        in_tables=table_hits,
        lost=lost,
        doubled=doubled,
        unanswered_503=sum(1 for o in outcomes if o.status == 503 and not o.retry_after),
    )


def p99_ms(latencies_s: Sequence[float]) -> float | None:
    """The 99th percentile (nearest rank) of ``latencies_s``, in ms; None when empty."""
    ordered = sorted(latencies_s)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def spooled_after_detection(
    outcomes: Sequence[Outcome], sent_before: float | None = None
) -> tuple[int, float] | None:
    """Answers that spooled once the outage was known: the count and their p99 in ms.

    The outage is known from the first spooled answer on (requests sent before it waited for
    the publish deadline). ``sent_before`` keeps only requests sent before that time (while
    Kafka was still away). None when there are none.
    """
    spooled = [o for o in outcomes if o.spooled]
    if not spooled:
        return None
    known = min(o.sent_at + o.latency_s for o in spooled)
    end = float("inf") if sent_before is None else sent_before
    after = [o.latency_s for o in spooled if known <= o.sent_at < end]
    p99 = p99_ms(after)
    return None if p99 is None else (len(after), p99)


def direct_p99_ms(outcomes: Sequence[Outcome]) -> float | None:
    """p99 in ms of the answers Kafka acknowledged directly (not spooled); None without any."""
    return p99_ms([o.latency_s for o in outcomes if o.accepted and not o.spooled])


def checked_topics(prefix: str) -> list[str]:
    return contract.topics(prefix, list(OWNING_TABLES))


async def topic_event_ids(settings: Settings) -> Counter[str]:
    """How many records of each event id the checked topics hold, read from the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = [
            TopicPartition(topic, p)
            for topic in checked_topics(settings.topic_prefix)
            for p in range(settings.topic_partitions)
        ]
        ends = await consumer.end_offsets(parts)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ids: Counter[str] = Counter()
        remaining = {tp for tp in parts if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    ids[dict(record.headers)[Header.EVENT_ID].decode()] += 1
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return ids
    finally:
        await consumer.stop()


def table_event_ids(libpq_url: str) -> dict[str, Counter[str]]:
    """Rows per event id of each checked table."""
    found: dict[str, Counter[str]] = {}
    with psycopg.connect(libpq_url) as conn:
        for table in TABLE_GROUPS:
            query = sql.SQL("SELECT event_id, count(*) FROM {} GROUP BY event_id")
            rows = conn.execute(query.format(sql.Identifier(table))).fetchall()
            found[table] = Counter({event_id: n for event_id, n in rows})
    return found


async def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """The high-water mark of every partition of the checked topics."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        parts = [
            TopicPartition(topic, p)
            for topic in checked_topics(settings.topic_prefix)
            for p in range(settings.topic_partitions)
        ]
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): end for tp, end in ends.items()}


def behind(
    libpq_url: str, settings: Settings, ends: Mapping[tuple[str, int], int]
) -> dict[str, int]:
    """Per group, the records of ``ends`` its stored offsets have not reached yet."""
    with psycopg.connect(libpq_url) as conn:
        stored = conn.execute(
            "SELECT group_id, topic, partition, next_offset FROM consumer_offsets"
        ).fetchall()
    positions = {(g, t, p): n for g, t, p, n in stored}
    lag: dict[str, int] = {}
    for name in sorted(set(TABLE_GROUPS.values())):
        group = registry.get(name)
        group_id = group.group_id(settings)
        topics = set(group.topics(settings.topic_prefix))
        lag[name] = sum(
            max(end - positions.get((group_id, topic, partition), 0), 0)
            for (topic, partition), end in ends.items()
            if topic in topics
        )
    return lag


def spool_depth(spool_dir: Path) -> int:
    """Records waiting in every spool file of ``spool_dir`` (a receiver's own and orphans)."""
    total = 0
    for path in sorted(spool_dir.glob("*.sqlite3")):
        total += _records_in(path)
    return total


def _records_in(path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0  # deleted between the listing and the open: drained
    try:
        (count,) = conn.execute("SELECT count(*) FROM records").fetchone()
        return int(count)
    except sqlite3.Error:
        return 0 if not path.exists() else 1  # unreadable for a moment: not empty yet
    finally:
        conn.close()
