"""The archive group's mapping: every event is kept, as the bytes that were signed.

What ``jsonb`` cannot hold (U+0000) is refused by PostgreSQL, not here: see
``tests/integration/test_poison_events.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from consumers.engine.decode import map_record
from consumers.groups.archive import GROUP, ArchivedEvent, rows_from
from core import contract
from core.settings import Settings
from tests.factories import GUIDE_SAMPLES, make_event
from tests.group_events import DELETE, RECEIVED_AT, group_event, with_field
from tests.records import record_for

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
CUSTOM = {"type": "app.badge.earned", "realmId": "r1", "timestamp": "2024-02-01T10:00:00Z"}


def test_group_reads_every_topic_other_included() -> None:
    assert GROUP.group_id(SETTINGS) == "drip-archive"
    assert GROUP.event_types is None
    assert GROUP.tables == ("events",)
    assert GROUP.topics("drip") == contract.topics("drip")
    assert "drip.other" in GROUP.topics("drip")


@pytest.mark.parametrize("event_type", sorted(GUIDE_SAMPLES))
def test_guide_samples_are_archived_whole(event_type: str) -> None:
    sample = GUIDE_SAMPLES[event_type]
    row = rows_from(group_event(sample, event_id="evt-1", offset=41), SETTINGS)
    assert row == ArchivedEvent(
        event_id="evt-1",
        event_type=event_type,
        realm_id="507f1f77bcf86cd799439011",
        occurred_at=datetime.fromisoformat(sample["timestamp"]),
        received_at=RECEIVED_AT,
        topic=contract.topic_for("test", event_type),
        partition=0,
        offset=41,
        payload=orjson.dumps(sample).decode(),
    )
    assert orjson.loads(row.payload) == sample


@pytest.mark.parametrize(
    ("payload", "field", "expected"),
    [
        (CUSTOM, "topic", "test.other"),
        (CUSTOM, "event_type", "app.badge.earned"),
        (with_field(CUSTOM, "timestamp", DELETE), "occurred_at", None),
        (with_field(CUSTOM, "timestamp", "last tuesday"), "occurred_at", None),
        (with_field(CUSTOM, "timestamp", 1706000000), "occurred_at", None),
        (
            with_field(CUSTOM, "timestamp", "2024-02-01T12:00:00+02:00"),
            "occurred_at",
            datetime(2024, 2, 1, 10, 0, tzinfo=UTC),
        ),
        # A time without an offset is read as UTC.
        (
            with_field(CUSTOM, "timestamp", "2024-02-01T10:00:00"),
            "occurred_at",
            datetime(2024, 2, 1, 10, 0, tzinfo=UTC),
        ),
        (with_field(CUSTOM, "realmId", DELETE), "realm_id", None),
        (with_field(CUSTOM, "realmId", {"id": "r1"}), "realm_id", None),
        (with_field(CUSTOM, "realmId", 42), "realm_id", "42"),
        (with_field(CUSTOM, "type", DELETE), "event_type", ""),
    ],
)
def test_lenient_columns(payload: dict[str, Any], field: str, expected: Any) -> None:
    row = rows_from(group_event(payload), SETTINGS)
    assert getattr(row, field) == expected
    assert orjson.loads(row.payload) == payload


def test_archived_payload_is_the_signed_bytes_numbers_exact() -> None:
    body = b'{"type":"app.x","realmId":"r1","data":{"big":1000000000000000000000000000000}}'
    event = group_event(orjson.loads(body))
    event = event._replace(envelope=event.envelope._replace(value=body))
    assert rows_from(event, SETTINGS).payload == body.decode()


def test_escaped_backslash_u0000_text_is_not_nul() -> None:
    payload = with_field(CUSTOM, "data.note", "\\u0000 is how JSON writes NUL")
    assert orjson.loads(rows_from(group_event(payload), SETTINGS).payload) == payload


@dataclass
class _Record:
    topic: str
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    partition: int = 2
    offset: int = 7
    timestamp: int = -1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "not JSON"),
        (b'["an", "array"]', "not an object"),
    ],
)
def test_records_the_archive_cannot_store_become_dead_letters(value: bytes, reason: str) -> None:
    topic, _key, _value, headers = record_for("test", make_event("member.joined"))
    row, dead = map_record(GROUP, _Record(topic, value, headers), SETTINGS)
    assert row is None and dead is not None
    assert reason in dead.error
    assert (dead.topic, dead.partition, dead.offset, dead.payload) == (topic, 2, 7, value)


def test_record_without_headers_gets_the_contract_identity() -> None:
    event = make_event("member.joined")
    row, dead = map_record(GROUP, _Record("test.member.joined", orjson.dumps(event), []), SETTINGS)
    assert dead is None
    assert row.event_id == contract.event_identity(event)
    assert row.event_type == "member.joined"
    assert row.received_at is None
