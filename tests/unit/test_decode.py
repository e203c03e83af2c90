"""Records to a batch: rows or dead letters, partitions held, offsets moved, identity fallbacks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka.structs import TopicPartition

from consumers.api import Planned
from consumers.engine.decode import assemble, map_record, to_event
from consumers.engine.offsets import Move
from consumers.groups.leaderboard import GROUP
from consumers.groups.leaderboard.rows import Award
from core import contract
from core.settings import Settings
from tests.factories import GUIDE_SAMPLES
from tests.group_events import RECEIVED_AT

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
POINTS = GUIDE_SAMPLES["member.points.awarded"]
TOPIC = "drip.member.points.awarded"


@dataclass
class Rec:
    """A record as aiokafka hands it over (the fields the runtime reads)."""

    offset: int
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=list)
    topic: str = TOPIC
    partition: int = 0
    timestamp: int = -1


def rec(offset: int, payload: Any = POINTS, event_id: str = "e", partition: int = 0) -> Rec:
    value = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    headers = contract.build_headers(event_id, "member.points.awarded", "realm", RECEIVED_AT, "raw")
    return Rec(offset, value, headers, partition=partition)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (b"{not json", "the event is not JSON: "),
        (b"[1, 2]", "the event is a JSON list, not an object"),
        (b"", "the event is not JSON: "),
        (b"\xff\xfe", "the event is not JSON: "),
        (orjson.dumps({**POINTS, "data": {}}), "data.member.id is missing"),
    ],
)
def test_unusable_records_become_dead_letters(value: bytes, error: str) -> None:
    row, dead = map_record(GROUP, rec(7, value, event_id="evt-9"), SETTINGS)
    assert row is None and dead is not None
    assert dead.error.startswith(error)
    assert (dead.topic, dead.partition, dead.offset) == (TOPIC, 0, 7)
    assert (dead.event_id, dead.event_type) == ("evt-9", "member.points.awarded")
    assert dead.payload == value


def test_record_without_headers_gets_contract_identity_and_body_type() -> None:
    payload = {k: v for k, v in POINTS.items()}
    event = to_event(Rec(3, orjson.dumps(payload)))
    assert event.event_id == contract.event_identity(payload)
    assert event.event_type == "member.points.awarded"
    row, dead = map_record(GROUP, Rec(3, orjson.dumps(payload)), SETTINGS)
    assert dead is None and isinstance(row, Award) and row.event_id == event.event_id


def test_headers_win_over_the_body() -> None:
    event = to_event(rec(0, event_id="from-header"))
    assert event.event_id == "from-header"
    assert event.envelope.received_at == RECEIVED_AT
    assert event.envelope.logged_at is None  # the receiver's stamp is there: no need


def test_record_without_a_receive_stamp_uses_the_kafka_record_time() -> None:
    record = Rec(3, orjson.dumps(POINTS), timestamp=1_700_000_000_250)
    assert to_event(record).envelope.logged_at == datetime(
        2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC
    )


def test_escaped_backslash_before_u0000_is_text_not_nul() -> None:
    # "C:\\u0000dir" in JSON is the text C:\u0000dir: a backslash, then "u0000". No NUL.
    body = orjson.dumps(POINTS).replace(b'"reason":', b'"note":"C:\\\\u0000dir","reason":')
    assert b"\\\\u0000" in body
    row, dead = map_record(GROUP, rec(0, body), SETTINGS)
    assert dead is None and isinstance(row, Award)


def test_assemble_keeps_only_held_partitions_and_unread_offsets() -> None:
    p0, p1, p2 = (TopicPartition(TOPIC, n) for n in range(3))
    fetched = {
        p0: [rec(4, partition=0), rec(5, partition=0), rec(6, b"bad", partition=0)],
        p1: [rec(9, partition=1)],
        p2: [rec(0, partition=2)],
    }
    batch = assemble(GROUP, fetched, {p0: 5, p1: 8}, SETTINGS)
    assert batch.moves == [Move(TOPIC, 0, 5, 7), Move(TOPIC, 1, 8, 10)]
    assert batch.records == 3
    assert [d.offset for d in batch.dead_letters] == [6]
    assert batch.gaps == [(p1, 8, 9)]
    assert batch.next_offsets() == {p0: 7, p1: 10}


def test_assemble_with_nothing_new_moves_nothing() -> None:
    tp = TopicPartition(TOPIC, 0)
    batch = assemble(GROUP, {tp: [rec(1), rec(2)]}, {tp: 3}, SETTINGS)
    assert (batch.moves, batch.rows, batch.dead_letters) == ([], [], [])


def test_assemble_plans_the_batch_statements_with_the_mapping() -> None:
    tp = TopicPartition(TOPIC, 0)
    batch = assemble(GROUP, {tp: [rec(0, event_id="a"), rec(1, event_id="b")]}, {tp: 0}, SETTINGS)
    assert isinstance(batch.rows, Planned)
    assert GROUP.plan is not None
    assert batch.rows.statements == GROUP.plan(list(batch.rows), SETTINGS)
