"""Typed reads of payload fields: each reader's ordinary values, conversions and faults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from consumers.fields import count, instant, integer, obj, optional_text, text
from core.errors import UnusableEvent

NOON = datetime(2024, 1, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-20T12:00:00Z",
        "2024-01-20T12:00:00+00:00",
        "2024-01-20T12:00:00",
        "2024-01-20T17:30:00+05:30",
        "2024-01-20T06:59:45-05:00:15",
    ],
)
def test_times_come_back_in_utc(value: str) -> None:
    read = instant({"at": value}, "at", "x.at")
    assert read == NOON and read is not None and read.tzinfo is UTC


@pytest.mark.parametrize(
    ("reader", "value", "expected"),
    [
        (text, "a", "a"),
        (text, " a ", " a "),
        (text, 7, "7"),
        (optional_text, None, None),
        (optional_text, "", None),
        (optional_text, "a", "a"),
        (optional_text, 0, "0"),
        (integer, -(2**63), -(2**63)),
        (integer, 2**63 - 1, 2**63 - 1),
        (integer, 12.0, 12),
        (count, 0, 0),
        (count, 1000.0, 1000),
        (count, 2**63 - 1, 2**63 - 1),
        (instant, None, None),
        (obj, None, {}),
        (obj, {"id": "x"}, {"id": "x"}),
    ],
)
def test_readers_take_their_values(reader: Any, value: Any, expected: Any) -> None:
    assert reader({"f": value}, "f", "data.f") == expected


@pytest.mark.parametrize(
    ("reader", "value", "error"),
    [
        (text, None, "data.f is missing"),
        (text, "", "data.f must not be empty"),
        (text, "  ", "data.f must not be empty"),
        (text, True, "data.f must be a string, got boolean"),
        (text, 1.5, "data.f must be a string, got number"),
        (text, [], "data.f must be a string, got array"),
        (optional_text, " ", "data.f must not be empty"),
        (optional_text, {}, "data.f must be a string, got object"),
        (integer, None, "data.f is missing"),
        (integer, True, "data.f must be a number, got boolean"),
        (integer, "1", "data.f must be a number, got string"),
        (integer, 1.5, "data.f must be a whole number, got 1.5"),
        (integer, 2**63, "data.f is out of range for a 64-bit integer"),
        (integer, 1e30, "data.f is out of range for a 64-bit integer"),
        (count, -1, "data.f must not be negative, got -1"),
        (instant, 5, "data.f must be an ISO 8601 string, got number"),
        (instant, "soon", "data.f is not an ISO 8601 date-time: 'soon'"),
        (instant, "9999-12-31T23:00:00-05:00", "data.f is out of the representable range in UTC"),
        (instant, "2024-01-20T10:00+25:00", "data.f is not an ISO 8601 date-time"),
        (obj, "x", "data.f must be an object, got string"),
        (obj, [], "data.f must be an object, got array"),
    ],
)
def test_readers_name_the_field_at_fault(reader: Any, value: Any, error: str) -> None:
    with pytest.raises(UnusableEvent) as raised:
        reader({"f": value}, "f", "data.f")
    assert str(raised.value).startswith(error)
