"""The groups' plain mapping paths: the guide samples take them, and they never change a result.

Each group maps an event on a plain path first and falls back to its careful readers for
anything out of the ordinary. Every field of every guide sample is set to values of every kind
here, and ``rows_from`` must give exactly what the careful readers give: the same row, or the
same UnusableEvent message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from consumers.group import Event
from consumers.groups import leaderboard_rows, purchases, streaks
from dripbridge.errors import UnusableEvent
from dripbridge.settings import Settings
from tests.factories import GUIDE_SAMPLES, GUIDE_TEST_POINTS
from tests.group_events import DELETE, group_event, with_field

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]

GROUPS: dict[str, tuple[ModuleType, Callable[[Event], Any], list[dict[str, Any]]]] = {
    "leaderboard": (
        leaderboard_rows,
        leaderboard_rows._careful,
        [
            GUIDE_SAMPLES["member.joined"],
            GUIDE_SAMPLES["member.left"],
            GUIDE_SAMPLES["member.points.awarded"],
            GUIDE_TEST_POINTS,
        ],
    ),
    "streaks": (
        streaks,
        lambda event: streaks._careful(event, SETTINGS),
        [GUIDE_SAMPLES["quest.completed"]],
    ),
    "purchases": (
        purchases,
        purchases._careful,
        [GUIDE_SAMPLES["store.purchase.completed"]],
    ),
}

VALUES: list[Any] = [
    *(DELETE, None, "", "  ", "x", "0", "2024-01-20T15:00:00+05:30", "2024-01-20T15:00:00"),
    *("2024-01-20T15:00:00.123456Z", "yesterday", 0, 7, -1, 12.0, 1.5, 2**63, -(2**63)),
    *(True, [], ["x"], {}, {"id": "x"}),
]


def _paths(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            yield path
            yield from _paths(value, path + ".")


def _cases() -> Iterator[Any]:
    for name, (_, _, samples) in GROUPS.items():
        for n, sample in enumerate(samples):
            for path in _paths(sample):
                for value in VALUES:
                    yield pytest.param(name, with_field(sample, path, value), id=f"{name}{n}")
            yield pytest.param(name, sample, id=f"{name}{n}-sample")


def _outcome(mapping: Callable[[Event], Any], event: Event) -> Any:
    try:
        return mapping(event)
    except UnusableEvent as exc:
        return f"UnusableEvent: {exc}"


@pytest.mark.parametrize(("name", "payload"), list(_cases()))
@pytest.mark.parametrize("event_id", ["evt-1", ""])
def test_plain_path_gives_what_the_careful_readers_give(
    name: str, payload: dict[str, Any], event_id: str
) -> None:
    module, careful, _ = GROUPS[name]
    event = group_event(payload, event_id=event_id)
    expected = _outcome(careful, event)
    assert _outcome(lambda e: module.rows_from(e, SETTINGS), event) == expected


@pytest.mark.parametrize("name", GROUPS)
def test_guide_samples_take_the_plain_path(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module, _, samples = GROUPS[name]

    def refuse(*args: Any) -> Any:
        raise AssertionError("the careful path ran")

    monkeypatch.setattr(module, "_careful", refuse)
    for sample in samples:
        module.rows_from(group_event(sample, event_id="evt-1"), SETTINGS)
