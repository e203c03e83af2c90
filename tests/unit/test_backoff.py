"""Retry pacing of the consumer runtime (its loop runs against real services, in integration)."""

from __future__ import annotations

import pytest

from consumers.engine.connection import Backoff


@pytest.mark.parametrize(
    ("first", "cap", "delays"),
    [
        (0.2, 30.0, [0.2, 0.4, 0.8, 1.6, 3.2]),
        (1.0, 3.0, [1.0, 2.0, 3.0, 3.0, 3.0]),
    ],
)
def test_backoff_doubles_up_to_the_cap(first: float, cap: float, delays: list[float]) -> None:
    backoff = Backoff(first, cap)
    assert [backoff.next() for _ in delays] == pytest.approx(delays)


def test_backoff_starts_over_after_a_success() -> None:
    backoff = Backoff(0.5, 10.0)
    backoff.next(), backoff.next()
    backoff.reset()
    assert backoff.next() == 0.5
