"""Streak arithmetic: days in a zone, runs of consecutive days, any arrival order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import permutations

import pytest

from consumers.groups.streaks.days import day_of
from core.errors import UnusableEvent
from tests.streak_model import Streak, streaks


def d(text: str) -> date:
    return date.fromisoformat(text)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        pytest.param([], Streak(0, 0, None), id="empty"),
        pytest.param(["2024-01-20"], Streak(1, 1, d("2024-01-20")), id="single-day"),
        pytest.param(["2024-01-20"] * 3, Streak(1, 1, d("2024-01-20")), id="same-day-repeats"),
        pytest.param(
            ["2024-01-18", "2024-01-19", "2024-01-20"], Streak(3, 3, d("2024-01-20")), id="run"
        ),
        pytest.param(
            ["2024-01-18", "2024-01-19", "2024-01-21"], Streak(1, 2, d("2024-01-21")), id="gap"
        ),
        pytest.param(
            ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-06"],
            Streak(2, 3, d("2024-01-06")),
            id="longest-before-current",
        ),
        pytest.param(
            ["2024-01-21", "2024-01-18", "2024-01-20", "2024-01-19"],
            Streak(4, 4, d("2024-01-21")),
            id="out-of-order",
        ),
        pytest.param(
            ["2024-01-18", "2024-01-19", "2024-01-21", "2024-01-22", "2024-01-20"],
            Streak(5, 5, d("2024-01-22")),
            id="late-event-fills-gap",
        ),
        pytest.param(
            ["2024-01-20", "2024-01-22", "2024-01-10"],
            Streak(1, 1, d("2024-01-22")),
            id="late-event-before-everything",
        ),
        pytest.param(
            ["2023-12-30", "2023-12-31", "2024-01-01"], Streak(3, 3, d("2024-01-01")), id="new-year"
        ),
        pytest.param(
            ["2024-02-28", "2024-02-29", "2024-03-01"], Streak(3, 3, d("2024-03-01")), id="leap-day"
        ),
        pytest.param(["2023-02-28", "2023-03-01"], Streak(2, 2, d("2023-03-01")), id="no-leap-day"),
    ],
)
def test_streaks(days: list[str], expected: Streak) -> None:
    assert streaks(d(day) for day in days) == expected


@pytest.mark.parametrize(
    "days",
    [
        ["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-05", "2024-01-05"],
        ["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-07"],
    ],
)
def test_arrival_order_never_matters(days: list[str]) -> None:
    results = {streaks(d(day) for day in order) for order in permutations(days)}
    assert len(results) == 1


@pytest.mark.parametrize(
    ("instant", "timezone", "expected"),
    [
        ("2024-01-20T23:30:00Z", "UTC", "2024-01-20"),
        ("2024-01-20T23:30:00Z", "Asia/Tokyo", "2024-01-21"),
        ("2024-01-20T14:59:59Z", "Asia/Tokyo", "2024-01-20"),
        ("2024-01-20T15:00:00Z", "Asia/Tokyo", "2024-01-21"),
        ("2024-01-20T02:00:00Z", "America/New_York", "2024-01-19"),
        ("2024-07-20T03:59:00Z", "America/New_York", "2024-07-19"),
        ("2024-07-20T04:00:00Z", "America/New_York", "2024-07-20"),
        ("2024-01-20T23:30:00+09:00", "UTC", "2024-01-20"),
        ("2024-01-21T01:30:00+02:00", "UTC", "2024-01-20"),
        ("2024-01-20T23:30:00+00:00", "Etc/UTC", "2024-01-20"),
    ],
)
def test_day_of(instant: str, timezone: str, expected: str) -> None:
    assert day_of(datetime.fromisoformat(instant), timezone) == d(expected)


def test_same_instant_counts_for_different_days_by_zone() -> None:
    instant = datetime(2024, 1, 20, 23, 30, tzinfo=UTC)
    assert day_of(instant, "UTC") != day_of(instant, "Asia/Tokyo")


def test_a_day_past_the_calendar_is_unusable() -> None:
    # An unknown zone never gets here: the settings refuse it at start (test_settings).
    with pytest.raises(UnusableEvent, match="no calendar day in Asia/Tokyo"):
        day_of(datetime(9999, 12, 31, 20, tzinfo=UTC), "Asia/Tokyo")
