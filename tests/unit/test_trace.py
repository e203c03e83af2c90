"""Trace: applied state from stored offsets, which groups read a topic, and how it is shown."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from consumers import registry
from consumers.ops.trace import EventTrace, GroupTrace, Place, applied, readers, table_of
from dripbridge.trace_cli import render


@pytest.mark.parametrize(
    ("next_offset", "offset", "expected"),
    [
        (None, 0, False),  # never read the partition
        (0, 0, False),
        (5, 5, False),  # the next record to read is this one
        (6, 5, True),
        (100, 5, True),
    ],
)
def test_applied_once_the_stored_next_offset_is_past_the_record(
    next_offset: int | None, offset: int, expected: bool
) -> None:
    assert applied(next_offset, offset) is expected


@pytest.mark.parametrize(
    ("query", "table"),
    [
        ("SELECT * FROM point_awards WHERE event_id = %s", "point_awards"),
        ("SELECT b.* FROM member_balances b JOIN point_awards a USING (x)", "member_balances"),
        ("select 1 from\n  events where event_id = %s", "events"),
        ("SELECT %s::text", "query 3"),
    ],
)
def test_table_of(query: str, table: str) -> None:
    assert table_of(query, 2) == table


@pytest.mark.parametrize(
    ("topic", "groups"),
    [
        ("p.member.points.awarded", ["leaderboard", "archive"]),
        ("p.quest.completed", ["streaks", "archive"]),
        ("p.store.purchase.completed", ["purchases", "archive"]),
        ("p.other", ["archive"]),
        ("q.quest.completed", []),  # another deployment's topic
    ],
)
def test_readers_are_the_groups_subscribed_to_the_topic(topic: str, groups: list[str]) -> None:
    assert [g.name for g in readers(registry.all_groups(), topic, "p")] == groups


def test_every_group_declares_read_only_trace_queries_of_its_own_tables() -> None:
    for group in registry.all_groups():
        assert group.trace, group.name
        for query in group.trace:
            assert query.lstrip().upper().startswith("SELECT") and query.count("%s") == 1
            assert table_of(query, 0) in group.tables


TRACE = EventTrace(
    event_id="evt-1",
    place=Place("p.store.purchase.completed", 2, 41, "dead_letters"),
    groups=(
        GroupTrace("purchases", "drip-purchases", 42, True, True, {"purchases": []}),
        GroupTrace("archive", "drip-archive", None, False, False, {"events": []}),
    ),
    dead_letters=({"group_id": "drip-purchases", "error": "data is missing"},),
    note="not in the archive (events)",
)


def test_json_and_render_say_where_the_event_is_and_each_group_state() -> None:
    document = TRACE.as_json()
    assert json.loads(json.dumps(document)) == document
    assert (document["partition"], document["offset"], document["found_in"]) == (
        2,
        41,
        "dead_letters",
    )
    assert [g["state"] for g in document["groups"]] == ["dead letter", "not yet applied"]
    out = io.StringIO()
    render(TRACE, Console(file=out, width=200))
    text = out.getvalue()
    assert "partition 2 offset 41 (from dead_letters)" in text
    assert "not in the archive" in text and "none (never read)" in text
    assert "Dead letters" in text and "data is missing" in text
