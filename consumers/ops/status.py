"""Where each consumer group stands: lag per partition, from Kafka and the stored offsets.

Lag here is exact whether or not the group is running: Kafka's end offset of each partition
minus the next offset stored in ``consumer_offsets`` (the offsets that commit with the
effects, so this is what is really applied). A partition without a stored row has never been
read; a new group starts at the log start, so it counts from there.

Who runs comes from Kafka's group coordinator (:mod:`consumers.ops.live_members`): the live
members of each group and the partitions each holds. Lag 0 with no member is "stopped", not
"caught up": nothing would apply the next event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.errors
from aiokafka.structs import TopicPartition

from consumers.api import ConsumerGroup
from consumers.ops.live_members import Member, live_members_of
from core.errors import ConfigError, DripBridgeError, ServiceUnavailable
from core.kafka_clients import admin_client, log_bounds, outside_consumer, partitions_of
from core.settings import Settings

MEMBERS_SETTLE_S = 3.0
"""How long to ask the coordinator again while a group rebalances (its members' subscriptions
unknown) before showing the members as they are."""


class TopicsMissing(DripBridgeError):
    """None of the groups' topics exists (yet): there is no lag to tell."""


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    """One partition of a group's topic: its log bounds and the group's stored offset."""

    topic: str
    partition: int
    log_start: int
    end_offset: int
    next_offset: int | None
    """Stored next offset; None when the group has never read this partition."""

    @property
    def lag(self) -> int:
        # Records before the log start are gone (retention): the group starts from there.
        reading = max(self.next_offset if self.next_offset is not None else 0, self.log_start)
        return max(self.end_offset - reading, 0)


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """A registered group: identity, topics, owned tables and per-partition lag."""

    name: str
    group_id: str
    topics: tuple[str, ...]
    tables: tuple[str, ...]
    partitions: tuple[PartitionStatus, ...]
    missing_topics: tuple[str, ...]
    members: tuple[Member, ...] = ()
    """Live processes of the group (Kafka group members reading its topics)."""

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def caught_up(self) -> bool:
        return self.lag == 0

    @property
    def running(self) -> bool:
        return bool(self.members)

    @property
    def state(self) -> str:
        """``caught up`` or ``behind`` while it runs; ``stopped`` (or ``stopped, behind``)."""
        if not self.running:
            return "stopped" if self.caught_up else "stopped, behind"
        return "caught up" if self.caught_up else "behind"

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``: every partition, with its lag."""
        return {
            "name": self.name,
            "group_id": self.group_id,
            "topics": list(self.topics),
            "tables": list(self.tables),
            "lag": self.lag,
            "caught_up": self.caught_up,
            "running": self.running,
            "state": self.state,
            "members": [m.as_json() for m in self.members],
            "missing_topics": list(self.missing_topics),
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "log_start": p.log_start,
                    "end_offset": p.end_offset,
                    "next_offset": p.next_offset,
                    "lag": p.lag,
                }
                for p in self.partitions
            ],
        }


def group_status(
    group: ConsumerGroup[Any],
    settings: Settings,
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    stored: Mapping[tuple[str, str, int], int],
    members: Sequence[Member] = (),
) -> GroupStatus:
    """Combine Kafka's log bounds, the stored offsets (keyed by group id, topic, partition)
    and the group's live ``members``."""
    topics = group.topics(settings.topic_prefix)
    group_id = group.group_id(settings)
    partitions = tuple(
        PartitionStatus(tp.topic, tp.partition, starts[tp], ends[tp], stored.get((group_id, *tp)))
        for tp in sorted(tp for tp in ends if tp.topic in topics)
    )
    present = {p.topic for p in partitions}
    return GroupStatus(
        name=group.name,
        group_id=group_id,
        topics=tuple(topics),
        tables=group.tables,
        partitions=partitions,
        missing_topics=tuple(t for t in topics if t not in present),
        members=tuple(members),
    )


_STORED = """
SELECT group_id, topic, partition, next_offset FROM consumer_offsets
WHERE group_id = ANY(%s) AND topic = ANY(%s)
"""


async def collect(settings: Settings, groups: Sequence[ConsumerGroup[Any]]) -> list[GroupStatus]:
    """The status of ``groups``: metadata, members and offsets from Kafka, one query.

    Raises :class:`TopicsMissing` when none of their topics exists.
    """
    topics = sorted({t for g in groups for t in g.topics(settings.topic_prefix)})
    wanted = {g.group_id(settings): g.topics(settings.topic_prefix) for g in groups}
    async with admin_client(settings, "drip-bridge-status") as admin:
        tps, missing = await partitions_of(admin, topics)
        if not tps:
            raise TopicsMissing(
                f"none of the {len(missing)} topics under DRIP_TOPIC_PREFIX="
                f"{settings.topic_prefix} exists yet: `drip-bridge topics create` makes them "
                "(so do serve and consume), or fix DRIP_TOPIC_PREFIX"
            )
        members = await live_members_of(admin, wanted, MEMBERS_SETTLE_S)
    async with outside_consumer(settings, "drip-bridge-status") as consumer:
        starts, ends = await log_bounds(consumer, tps)
    try:
        async with await psycopg.AsyncConnection.connect(settings.libpq_url) as conn:
            cur = await conn.execute(_STORED, [[g.group_id(settings) for g in groups], topics])
            stored = {(g, t, p): o for g, t, p, o in await cur.fetchall()}
    except psycopg.errors.UndefinedTable as exc:
        raise ConfigError(
            "consumer_offsets is missing; apply the migrations (drip-bridge migrate)"
        ) from exc
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(f"PostgreSQL did not answer ({exc}); is it running?") from exc
    return [
        group_status(g, settings, starts, ends, stored, members[g.group_id(settings)])
        for g in groups
    ]
