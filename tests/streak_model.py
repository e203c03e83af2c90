"""The reference definition of quest streaks, which the streaks group's SQL is held to.

A *day* counts when the member completed at least one quest on it. A *run* is a maximal sequence
of consecutive days. ``current`` is the length of the run that ends on the member's last day;
whether that streak is still alive *today* is for the reader to decide by comparing that day with
today, so these figures never depend on a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from itertools import pairwise
from typing import NamedTuple


class Streak(NamedTuple):
    """Runs of consecutive days: the run ending on ``last_day``, the longest, and that day."""

    current: int
    longest: int
    last_day: date | None


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
