"""Live members: only members subscribed to this deployment's topics of the group count."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)
from aiokafka.structs import TopicPartition

from consumers.ops.live_members import Member, members_of, reading


def _member(
    client: str, topics: list[str] | None, assigned: list[tuple[str, list[int]]] | None = None
) -> dict[str, Any]:
    assignment = ConsumerProtocolMemberAssignment(0, assigned, b"").encode() if assigned else b""
    metadata = (
        ConsumerProtocolMemberMetadata(0, topics, b"").encode()
        if topics is not None
        else b"\x07not the consumer protocol"
    )
    return {
        "member_id": f"{client}-1",
        "client_id": client,
        "client_host": "/10.0.0.1",
        "member_metadata": metadata,
        "member_assignment": assignment,
    }


DESCRIBED = [
    {
        "throttle_time_ms": 0,
        "groups": [
            {
                "error_code": 0,
                "group": "drip-leaderboard",
                "state": "Stable",
                "protocol_type": "consumer",
                "protocol": "roundrobin",
                "members": [
                    _member(
                        "prod",
                        ["drip.member.joined", "drip.member.left"],
                        [("drip.member.left", [2, 0]), ("drip.member.joined", [1])],
                    ),
                    _member("staging", ["staging.member.joined"]),
                    _member("odd", None),
                ],
            },
            {"error_code": 0, "group": "drip-streaks", "state": "Stable", "members": []},
        ],
    }
]


def test_members_of_decodes_subscriptions() -> None:
    members = members_of(DESCRIBED, "drip-leaderboard")
    assert [m.client_id for m in members] == ["prod", "staging", "odd"]
    assert members[0].topics == frozenset({"drip.member.joined", "drip.member.left"})
    assert members[2].topics is None
    assert members_of(DESCRIBED, "drip-streaks") == []
    assert members_of(DESCRIBED, "drip-unknown") == []


@pytest.mark.parametrize(
    ("topics", "clients"),
    [
        (["drip.member.joined"], ["prod", "odd"]),
        (["staging.member.joined", "staging.member.left"], ["staging", "odd"]),
        # Another deployment's prefix on the same broker is not a live process of this one;
        # a member whose subscription cannot be read is counted, to be safe.
        (["test-1.member.joined"], ["odd"]),
    ],
)
def test_reading_filters_by_subscribed_topics(topics: list[str], clients: list[str]) -> None:
    members = members_of(DESCRIBED, "drip-leaderboard")
    assert [m.client_id for m in reading(members, topics)] == clients


def test_empty_group_has_no_live_members() -> None:
    assert reading([Member("a", "h", frozenset())], ["drip.member.joined"]) == []


def test_members_of_decodes_assignments() -> None:
    members = members_of(DESCRIBED, "drip-leaderboard")
    assert members[0].assigned == (
        TopicPartition("drip.member.joined", 1),
        TopicPartition("drip.member.left", 0),
        TopicPartition("drip.member.left", 2),
    )
    assert members[0].member_id == "prod-1"
    # During a rebalance the assignment is empty bytes; other protocols' bytes do not decode.
    assert members[1].assigned == members[2].assigned == ()
