"""Group status: lag per partition from log bounds and stored offsets, and how it is shown."""

from __future__ import annotations

import io
import json

import pytest
from aiokafka.structs import TopicPartition
from rich.console import Console

from consumers.groups.purchases import GROUP as PURCHASES
from consumers.groups.streaks import GROUP as STREAKS
from consumers.ops.live_members import Member
from consumers.ops.status import PartitionStatus, group_status
from core.settings import Settings
from dripbridge.consumers_cli import render

P_SETTINGS = Settings(_env_file=None, topic_prefix="p")  # type: ignore[call-arg]
TOPIC = "p.store.purchase.completed"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
OTHER = TopicPartition("p.quest.completed", 0)


@pytest.mark.parametrize(
    ("log_start", "end", "stored", "lag"),
    [
        (0, 10, None, 10),  # never read: a new group starts at the log start
        (4, 10, None, 6),  # ... which retention may have moved on
        (0, 10, 7, 3),
        (0, 10, 10, 0),
        (8, 10, 5, 2),  # stored before the log start: records in between are gone
        (0, 0, None, 0),  # empty partition
    ],
)
def test_partition_lag(log_start: int, end: int, stored: int | None, lag: int) -> None:
    assert PartitionStatus(TOPIC, 0, log_start, end, stored).lag == lag


def test_group_status_combines_bounds_and_stored_offsets() -> None:
    starts = {P0: 0, P1: 0, OTHER: 0}
    ends = {P0: 5, P1: 3, OTHER: 9}
    stored = {("drip-purchases", TOPIC, 0): 5, ("drip-streaks", "p.quest.completed", 0): 1}

    status = group_status(PURCHASES, P_SETTINGS, starts, ends, stored)

    assert status.topics == (TOPIC,)
    assert status.tables == PURCHASES.tables
    assert status.partitions == (
        PartitionStatus(TOPIC, 0, 0, 5, 5),
        PartitionStatus(TOPIC, 1, 0, 3, None),
    )
    assert (status.lag, status.caught_up, status.missing_topics) == (3, False, ())
    document = status.as_json()
    assert json.loads(json.dumps(document)) == document
    assert [p["lag"] for p in document["partitions"]] == [0, 3]


def test_missing_topic_is_reported_and_has_no_lag() -> None:
    status = group_status(STREAKS, P_SETTINGS, {}, {}, {})
    assert status.missing_topics == ("p.quest.completed",)
    assert (status.partitions, status.lag, status.caught_up) == ((), 0, True)


RUNNING = Member("drip-bridge-purchases", "/10.0.0.7", frozenset({TOPIC}), (P0, P1), "m-1")
WAITING = Member("drip-bridge-purchases", "/10.0.0.8", frozenset({TOPIC}), (), "m-2")


@pytest.mark.parametrize(
    ("ends", "stored", "members", "state", "running"),
    [
        ({P0: 5}, {("drip-purchases", TOPIC, 0): 5}, [RUNNING], "caught up", True),
        ({P0: 5}, {("drip-purchases", TOPIC, 0): 2}, [RUNNING], "behind", True),
        # Lag 0 and nobody reading: the next event would wait, so it is not "caught up".
        ({P0: 5}, {("drip-purchases", TOPIC, 0): 5}, [], "stopped", False),
        ({P0: 5}, {}, [], "stopped, behind", False),
        ({P0: 5}, {}, [RUNNING, WAITING], "behind", True),
    ],
)
def test_state_tells_caught_up_from_stopped(
    ends: dict[TopicPartition, int],
    stored: dict[tuple[str, str, int], int],
    members: list[Member],
    state: str,
    running: bool,
) -> None:
    status = group_status(PURCHASES, P_SETTINGS, dict.fromkeys(ends, 0), ends, stored, members)
    assert (status.state, status.running) == (state, running)
    document = status.as_json()
    assert (document["state"], document["running"]) == (state, running)
    assert len(document["members"]) == len(members)


def test_members_in_json_name_host_member_and_partitions() -> None:
    status = group_status(PURCHASES, P_SETTINGS, {P0: 0}, {P0: 1}, {}, [RUNNING, WAITING])
    assert status.as_json()["members"] == [
        {
            "member_id": "m-1",
            "client_id": "drip-bridge-purchases",
            "host": "/10.0.0.7",
            "partitions": [f"{TOPIC}[0]", f"{TOPIC}[1]"],
        },
        {
            "member_id": "m-2",
            "client_id": "drip-bridge-purchases",
            "host": "/10.0.0.8",
            "partitions": [],
        },
    ]


def test_render_lists_groups_and_only_partitions_behind() -> None:
    behind = group_status(PURCHASES, P_SETTINGS, {P0: 0, P1: 0}, {P0: 5, P1: 3}, {}, [RUNNING])
    missing = group_status(STREAKS, P_SETTINGS, {}, {}, {})
    out = io.StringIO()

    render([behind, missing], "p", Console(file=out, width=160))

    text = out.getvalue()
    assert "drip-purchases" in text and "store.purchase.completed" in text
    assert "behind" in text and "stopped" in text and "1 topic(s) missing" in text
    assert "Processes running" in text and "/10.0.0.7" in text and "m-1" in text
    assert "store.purchase.completed[0,1]" in text
    assert "Partitions behind" in text
    assert "p.quest.completed" not in text.split("Partitions behind")[1]
    assert "none (log start)" in text
