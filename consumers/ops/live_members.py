"""Live processes of a consumer group, as Kafka's group coordinator knows them.

A process running a group is a member of the group's Kafka consumer group while it runs, and
its membership metadata names the topics it subscribes to. Only members subscribed to one of
the group's topics under this deployment's prefix count: the same group id may be used under
another prefix on a shared broker (a staging deployment, a test run) without conflicting.

A process killed without leaving stays a member until the session timeout (10 s by default)
expires, so a refusal right after a crash clears itself after that long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a Kafka consumer group: who it is and what it subscribes to."""

    client_id: str
    client_host: str
    topics: frozenset[str] | None
    """Subscribed topics; None when the metadata is not the consumer protocol's."""


def _subscription(metadata: bytes) -> frozenset[str] | None:
    try:
        return frozenset(ConsumerProtocolMemberMetadata.decode(metadata).subscription)
    except Exception:
        return None


def members_of(described: Iterable[Mapping[str, Any]], group_id: str) -> list[Member]:
    """The members of ``group_id`` in DescribeGroups answers (as ``to_object()`` dicts)."""
    return [
        Member(m["client_id"], m["client_host"], _subscription(m["member_metadata"]))
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
    deadline = time.monotonic() + settle_s
    while True:
        responses = await admin.describe_consumer_groups([group_id])
        members = members_of([r.to_object() for r in responses], group_id)
        if all(m.topics is not None for m in members) or time.monotonic() > deadline:
            return reading(members, topics)
        await asyncio.sleep(0.5)
