"""The streaks group's mapping: guide sample, day assignment, and what makes an event unusable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from consumers.engine.decode import map_record
from consumers.groups.streaks import GROUP, Completion, rows_from
from core.contract import event_identity
from core.errors import ConfigError, UnusableEvent
from core.settings import Settings
from tests.factories import GUIDE_SAMPLES
from tests.group_events import DELETE, group_event, with_field

SAMPLE = GUIDE_SAMPLES["quest.completed"]


def settings(timezone: str = "UTC") -> Settings:
    return Settings(_env_file=None, streak_timezone=timezone)  # type: ignore[call-arg]


def test_guide_sample() -> None:
    row = rows_from(group_event(SAMPLE, event_id="evt-1"), settings())
    assert row == Completion(
        event_id="evt-1",
        realm_id="507f1f77bcf86cd799439011",
        member_id="507f1f77bcf86cd799439013",
        quest_id="507f1f77bcf86cd799439020",
        quest_name="Daily Engagement",
        quest_type="daily",
        completed_at=datetime(2024, 1, 20, 16, 15, tzinfo=UTC),
        day=date(2024, 1, 20),
    )


def test_group_reads_quest_completed_only() -> None:
    assert GROUP.group_id(Settings(_env_file=None)) == "drip-streaks"  # type: ignore[call-arg]
    assert GROUP.event_types == ("quest.completed",)
    assert GROUP.topics("drip") == ["drip.quest.completed"]


@pytest.mark.parametrize(
    ("changes", "timezone", "completed_at", "day"),
    [
        pytest.param({}, "UTC", "2024-01-20T16:15:00+00:00", "2024-01-20", id="sample"),
        pytest.param(
            {"data.completedAt": "2024-01-20T23:30:00Z"},
            "Asia/Tokyo",
            "2024-01-20T23:30:00+00:00",
            "2024-01-21",
            id="tokyo-next-day",
        ),
        pytest.param(
            {"data.completedAt": "2024-01-20T03:00:00Z"},
            "America/Los_Angeles",
            "2024-01-20T03:00:00+00:00",
            "2024-01-19",
            id="los-angeles-previous-day",
        ),
        pytest.param(
            {"data.completedAt": DELETE, "timestamp": "2024-01-22T08:00:00Z"},
            "UTC",
            "2024-01-22T08:00:00+00:00",
            "2024-01-22",
            id="timestamp-when-no-completedAt",
        ),
        pytest.param(
            {"data.completedAt": None, "timestamp": "2024-01-22T08:00:00Z"},
            "UTC",
            "2024-01-22T08:00:00+00:00",
            "2024-01-22",
            id="timestamp-when-completedAt-null",
        ),
        pytest.param(
            {"data.completedAt": "2024-01-20T23:30:00"},
            "UTC",
            "2024-01-20T23:30:00+00:00",
            "2024-01-20",
            id="no-offset-means-utc",
        ),
        pytest.param(
            {"data.completedAt": "2024-01-21T01:00:00.250+02:00"},
            "UTC",
            "2024-01-20T23:00:00.250+00:00",
            "2024-01-20",
            id="offset-and-fraction",
        ),
    ],
)
def test_day_and_time(changes: dict[str, Any], timezone: str, completed_at: str, day: str) -> None:
    payload = dict(SAMPLE)
    for path, value in changes.items():
        payload = with_field(payload, path, value)
    row = rows_from(group_event(payload), settings(timezone))
    assert row.completed_at == datetime.fromisoformat(completed_at)
    assert row.day == date.fromisoformat(day)


@pytest.mark.parametrize(
    ("path", "value", "field", "expected"),
    [
        ("data.quest.name", DELETE, "quest_name", None),
        ("data.quest.type", None, "quest_type", None),
        ("data.quest.type", "", "quest_type", None),
        ("data.member.id", 42, "member_id", "42"),
        ("realmId", 7, "realm_id", "7"),
    ],
)
def test_optional_and_numeric_fields(path: str, value: Any, field: str, expected: Any) -> None:
    row = rows_from(group_event(with_field(SAMPLE, path, value)), settings())
    assert getattr(row, field) == expected


def test_event_id_falls_back_to_payload_identity() -> None:
    # A record without the receiver's headers: decoding gives it the contract's identity.
    record = _Headerless(orjson.dumps(SAMPLE))
    row, dead = map_record(GROUP, record, settings())
    assert dead is None and row.event_id == event_identity(SAMPLE)


class _Headerless:
    topic, partition, offset, timestamp = "drip.quest.completed", 0, 0, -1
    headers: Sequence[tuple[str, bytes]] = ()

    def __init__(self, value: bytes) -> None:
        self.value: bytes | None = value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("realmId", DELETE, "realmId is missing"),
        ("realmId", ["r"], "realmId must be a string, got array"),
        ("data", DELETE, "data is missing or not an object"),
        ("data", "oops", "data is missing or not an object"),
        ("data.member", DELETE, "data.member.id is missing"),
        ("data.member", "m1", "data.member must be an object, got string"),
        ("data.member.id", "", "data.member.id must not be empty"),
        ("data.member.id", True, "data.member.id must be a string, got boolean"),
        ("data.quest.id", DELETE, "data.quest.id is missing"),
        ("data.quest.id", 1.5, "data.quest.id must be a string, got number"),
        ("data.quest.name", {"en": "x"}, "data.quest.name must be a string, got object"),
        (
            "data.completedAt",
            "yesterday",
            "data.completedAt is not an ISO 8601 date-time: 'yesterday'",
        ),
        ("data.completedAt", 1705767300, "data.completedAt must be an ISO 8601 string, got number"),
    ],
)
def test_unusable_events(path: str, value: Any, message: str) -> None:
    with pytest.raises(UnusableEvent) as raised:
        rows_from(group_event(with_field(SAMPLE, path, value)), settings())
    assert str(raised.value) == message


def test_timestamp_is_not_read_when_completed_at_is_there() -> None:
    row = rows_from(group_event(with_field(SAMPLE, "timestamp", "soon")), settings())
    assert row.day == date(2024, 1, 20)


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        (DELETE, "data.completedAt and timestamp are both missing"),
        ("20 Jan 2024", "timestamp is not an ISO 8601 date-time: '20 Jan 2024'"),
    ],
)
def test_no_usable_time(timestamp: Any, message: str) -> None:
    payload = with_field(with_field(SAMPLE, "data.completedAt", DELETE), "timestamp", timestamp)
    with pytest.raises(UnusableEvent) as raised:
        rows_from(group_event(payload), settings())
    assert str(raised.value) == message


def test_bad_timezone_setting_is_not_blamed_on_the_event() -> None:
    # Settings refuse an unknown zone at start; model_copy skips validation, as settings built
    # by other means could.
    unchecked = settings().model_copy(update={"streak_timezone": "Mars/Olympus"})
    with pytest.raises(ConfigError, match="DRIP_STREAK_TIMEZONE='Mars/Olympus'"):
        rows_from(group_event(SAMPLE), unchecked)
