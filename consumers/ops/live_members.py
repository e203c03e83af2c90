"""Live processes of a consumer group, as Kafka's group coordinator knows them.

A process running a group is a member of the group's Kafka consumer group while it runs, and
its membership metadata names the topics it subscribes to. Only members subscribed to one of
the group's topics under this deployment's prefix count: the same group id may be used under
another prefix on a shared broker (a staging deployment, a test run) without conflicting.

A process killed without leaving stays a member until the session timeout (10 s by default)
expires, so a refusal right after a crash clears itself after that long.

Each member also carries the partitions the group's leader assigned it; while the group
rebalances, and in an answer that is not the consumer protocol's, it has none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)
from aiokafka.structs import TopicPartition


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a Kafka consumer group: who it is and what it subscribes to."""

    client_id: str
    client_host: str
    topics: frozenset[str] | None
    """Subscribed topics; None when the metadata is not the consumer protocol's."""
    assigned: tuple[TopicPartition, ...] = ()
    """Partitions assigned to it, sorted; empty while the group rebalances."""
    member_id: str = ""
    """The coordinator's id of this membership: the client id and a suffix unique to the
    process (every process of a group has the same client id)."""

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``; partitions as ``topic[partition]``."""
        return {
            "member_id": self.member_id,
            "client_id": self.client_id,
            "host": self.client_host,
            "partitions": [f"{tp.topic}[{tp.partition}]" for tp in self.assigned],
        }


def _subscription(metadata: bytes) -> frozenset[str] | None:
    try:
        return frozenset(ConsumerProtocolMemberMetadata.decode(metadata).subscription)
    except Exception:
        return None


def _assignment(assignment: bytes) -> tuple[TopicPartition, ...]:
    # Empty bytes while a rebalance is under way; other protocols' bytes do not decode.
    try:
        return tuple(sorted(ConsumerProtocolMemberAssignment.decode(assignment).partitions()))
    except Exception:
        return ()


def members_of(described: Iterable[Mapping[str, Any]], group_id: str) -> list[Member]:
    """The members of ``group_id`` in DescribeGroups answers (as ``to_object()`` dicts)."""
    return [
        Member(
            m["client_id"],
            m["client_host"],
            _subscription(m["member_metadata"]),
            _assignment(m["member_assignment"]),
            m["member_id"],
        )
        for response in described
        for group in response["groups"]
        if group["group"] == group_id
        for m in group["members"]
    ]


def reading(members: Iterable[Member], topics: Sequence[str]) -> list[Member]:
    """Members that read any of ``topics``; one whose subscription is unknown counts too."""
    wanted = set(topics)
    return [m for m in members if m.topics is None or m.topics & wanted]


async def live_members(
    admin: AIOKafkaAdminClient, group_id: str, topics: Sequence[str], settle_s: float = 10.0
) -> list[Member]:
    """Members of ``group_id`` currently subscribed to any of ``topics``.

    While the group rebalances, the coordinator reports members without their subscription;
    the question is asked again for up to ``settle_s`` seconds, then such members count.
    """
    return (await live_members_of(admin, {group_id: topics}, settle_s))[group_id]


async def live_members_of(
    admin: AIOKafkaAdminClient, groups: Mapping[str, Sequence[str]], settle_s: float = 10.0
) -> dict[str, list[Member]]:
    """group id -> its members subscribed to any of its topics, for every group in ``groups``.

    Asked again (for up to ``settle_s`` seconds) while any group rebalances, as
    :func:`live_members` does. One DescribeGroups request per group: aiokafka 0.14 misreads
    an answer about several groups (every group after the first comes out shifted).
    """
    deadline = time.monotonic() + settle_s
    while True:
        members = {}
        for group_id in groups:
            responses = await admin.describe_consumer_groups([group_id])
            members[group_id] = members_of([r.to_object() for r in responses], group_id)
        settled = all(m.topics is not None for each in members.values() for m in each)
        if settled or time.monotonic() > deadline:
            return {
                group_id: reading(members[group_id], topics) for group_id, topics in groups.items()
            }
        await asyncio.sleep(0.5)
