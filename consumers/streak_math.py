"""Quest-streak arithmetic: which calendar day a completion counts for, and runs of days.

This is the reference definition. The streaks group computes the same figures in SQL over all of a
member's stored days (so a late event gives the same answer as in-order arrival); the integration
tests check that both agree.

A *day* counts when the member completed at least one quest on it. A *run* is a maximal sequence of
consecutive days. ``current`` is the length of the run that ends on the member's last day; whether
that streak is still alive *today* is for the reader to decide by comparing that day with today,
so these figures never depend on a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dripbridge.errors import ConfigError


class Streak(NamedTuple):
    """Runs of consecutive days: the run ending on ``last_day``, the longest, and that day."""

    current: int
    longest: int
    last_day: date | None


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``DRIP_STREAK_TIMEZONE``), or a ConfigError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"DRIP_STREAK_TIMEZONE={name!r} is not an IANA time zone name "
            "(for example UTC, Europe/Paris, Asia/Tokyo)"
        ) from None


def day_of(instant: datetime, timezone: str) -> date:
    """The calendar day ``instant`` (timezone-aware) falls on in ``timezone``."""
    if timezone == "UTC" and instant.tzinfo is UTC:
        return instant.date()  # the default calendar, and how event times are read: no lookup
    return instant.astimezone(zone(timezone)).date()


def streaks(days: Iterable[date]) -> Streak:
    """Current and longest runs over ``days`` (any order, repeats allowed); zeros when empty."""
    ordered = sorted(set(days))
    if not ordered:
        return Streak(0, 0, None)
    longest = run = 1
    for previous, day in pairwise(ordered):
        run = run + 1 if day - previous == timedelta(days=1) else 1
        longest = max(longest, run)
    return Streak(run, longest, ordered[-1])
