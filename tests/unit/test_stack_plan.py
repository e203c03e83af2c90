"""What ``drip-bridge stack`` starts: the receiver, and each group once or N times."""

from __future__ import annotations

import sys

import pytest

from dripbridge.stack import plan

PY = [sys.executable, "-m", "dripbridge"]


@pytest.mark.parametrize(
    ("groups", "processes", "expected"),
    [
        ([], 1, {"receiver": [*PY, "serve"]}),
        (
            ["leaderboard", "streaks"],
            1,
            {
                "receiver": [*PY, "serve"],
                "consumer-leaderboard": [*PY, "consume", "--processes", "1", "leaderboard"],
                "consumer-streaks": [*PY, "consume", "--processes", "1", "streaks"],
            },
        ),
        (
            ["purchases"],
            3,
            {
                "receiver": [*PY, "serve"],
                "consumer-purchases-1": [*PY, "consume", "--processes", "1", "purchases"],
                "consumer-purchases-2": [*PY, "consume", "--processes", "1", "purchases"],
                "consumer-purchases-3": [*PY, "consume", "--processes", "1", "purchases"],
            },
        ),
    ],
)
def test_plan(groups: list[str], processes: int, expected: dict[str, list[str]]) -> None:
    assert plan(groups, processes) == expected
