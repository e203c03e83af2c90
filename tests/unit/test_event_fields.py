"""Typed reads of payload fields: times come back in UTC, and the plain readers' boundaries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from consumers.event_fields import (
    NOT_PLAIN,
    optional_time,
    plain_count,
    plain_int,
    plain_optional_str,
    plain_str,
    plain_time,
)

NOON = datetime(2024, 1, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-20T12:00:00Z",
        "2024-01-20T12:00:00+00:00",
        "2024-01-20T12:00:00",
        "2024-01-20T17:30:00+05:30",
        "2024-01-20T06:59:45-05:00:15",
    ],
)
def test_times_come_back_in_utc(text: str) -> None:
    for read in (optional_time({"at": text}, "at"), plain_time(text)):
        assert read == NOON and read is not None and read.tzinfo is UTC


@pytest.mark.parametrize(
    ("reader", "value", "expected"),
    [
        (plain_str, "a", "a"),
        (plain_str, " a ", " a "),
        (plain_optional_str, None, None),
        (plain_optional_str, "", None),
        (plain_optional_str, "a", "a"),
        (plain_int, -(2**63), -(2**63)),
        (plain_int, 2**63 - 1, 2**63 - 1),
        (plain_count, 0, 0),
        (plain_count, 2**63 - 1, 2**63 - 1),
    ],
)
def test_plain_readers_take_ordinary_values(reader: Any, value: Any, expected: Any) -> None:
    assert reader(value) == expected


@pytest.mark.parametrize(
    ("reader", "value"),
    [
        (plain_str, ""),
        (plain_str, "  "),
        (plain_str, 7),
        (plain_str, None),
        (plain_optional_str, " "),
        (plain_optional_str, 7),
        (plain_int, True),
        (plain_int, 1.0),
        (plain_int, 2**63),
        (plain_count, -1),
        (plain_count, "1"),
        (plain_time, 5),
        (plain_time, "soon"),
    ],
)
def test_plain_readers_leave_the_rest_to_the_careful_ones(reader: Any, value: Any) -> None:
    with pytest.raises(NOT_PLAIN):
        reader(value)
