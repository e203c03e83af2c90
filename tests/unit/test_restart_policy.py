"""Which exited processes the supervisor restarts, and after how long."""

from __future__ import annotations

import pytest

from dripbridge.restart_policy import Decision, RestartPolicy

POLICY = RestartPolicy(first_s=1.0, max_s=8.0, healthy_after_s=60.0)


@pytest.mark.parametrize(
    ("code", "ran_s", "previous_delay_s", "expected"),
    [
        (1, 0.5, None, Decision(restart=True, delay_s=1.0)),  # first crash: first delay
        (1, 0.5, 1.0, Decision(restart=True, delay_s=2.0)),  # crashing again: doubled
        (1, 0.5, 2.0, Decision(restart=True, delay_s=4.0)),
        (1, 0.5, 4.0, Decision(restart=True, delay_s=8.0)),
        (1, 0.5, 8.0, Decision(restart=True, delay_s=8.0)),  # capped
        (1, 59.9, 8.0, Decision(restart=True, delay_s=8.0)),  # not yet healthy
        (1, 60.0, 8.0, Decision(restart=True, delay_s=1.0)),  # a healthy run resets
        (3, 0.1, None, Decision(restart=True, delay_s=1.0)),  # receiver start-up failure
        (-9, 0.1, 2.0, Decision(restart=True, delay_s=4.0)),  # killed by a signal
        (0, 5.0, None, Decision(restart=True, delay_s=1.0)),  # exited unasked
        (78, 0.1, None, Decision(restart=False)),  # configuration error
        (78, 600.0, 8.0, Decision(restart=False)),
    ],
)
def test_after_exit(
    code: int, ran_s: float, previous_delay_s: float | None, expected: Decision
) -> None:
    assert POLICY.after_exit(code, ran_s, previous_delay_s) == expected


def test_first_delay_above_the_cap_is_capped() -> None:
    policy = RestartPolicy(first_s=10.0, max_s=4.0)
    assert policy.after_exit(1, 0.0, None) == Decision(restart=True, delay_s=4.0)
    assert policy.after_exit(1, 0.0, 4.0) == Decision(restart=True, delay_s=4.0)
