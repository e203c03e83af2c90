"""The fault suite's verdict: acknowledged events found, lost or doubled, by event id."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.faults_check import (
    OWNING_TABLES,
    TABLE_GROUPS,
    Tally,
    spooled_after_detection,
    tally,
)
from bench.faults_load import Outcome
from consumers import registry

POINTS, QUEST = "member.points.awarded", "quest.completed"


def _tables(**rows: dict[str, int]) -> dict[str, Counter[str]]:
    found = {table: Counter[str]() for table in TABLE_GROUPS}
    for table, counts in rows.items():
        found[table].update(counts)
    return found


STORED = _tables(point_awards={"e1": 1}, events={"e1": 1})
OK, UNAVAILABLE = Outcome("e1", POINTS, 200), Outcome("e1", POINTS, 503, retry_after="5")


@pytest.mark.parametrize(
    ("outcomes", "topics", "tables", "lost", "doubled", "in_tables"),
    [
        # Accepted, in its topic, one row in its group's table and in the archive.
        ([OK], {"e1": 1}, STORED, 0, 0, 1),
        # Twice in the topic (at least once) is fine; the tables still hold one row.
        ([OK], {"e1": 2}, STORED, 0, 0, 1),
        # Missing from the topic: lost, whatever the tables say.
        ([OK], {}, STORED, 1, 0, 1),
        # Missing from the archive only: lost.
        ([Outcome("e1", QUEST, 200)], {"e1": 1}, _tables(quest_completions={"e1": 1}), 1, 0, 0),
        # Two rows in one table: doubled.
        (
            [Outcome("e1", QUEST, 200)],
            {"e1": 1},
            _tables(quest_completions={"e1": 2}, events={"e1": 1}),
            0, 1, 0,
        ),
        # Answered 503 or not answered: not accepted, so absent is not lost.
        ([UNAVAILABLE, Outcome("e2", POINTS, 0)], {}, _tables(), 0, 0, 0),
        # Answered 503 yet published anyway (a late ack): still not counted as accepted.
        ([UNAVAILABLE], {"e1": 1}, STORED, 0, 0, 0),
    ],
)  # fmt: skip
def test_tally(
    outcomes: list[Outcome],
    topics: dict[str, int],
    tables: dict[str, Counter[str]],
    lost: int,
    doubled: int,
    in_tables: int,
) -> None:
    figures = tally(outcomes, Counter(topics), tables)
    assert (figures.lost, figures.doubled, figures.in_tables) == (lost, doubled, in_tables)
    assert figures.accepted == sum(1 for o in outcomes if o.status == 200)
    assert figures.clean == (lost == 0 and doubled == 0)


def test_a_503_without_retry_after_is_a_failure() -> None:
    figures = tally([Outcome("e1", POINTS, 503)], Counter(), _tables())
    assert figures == Tally(1, 0, 0, 1, 0, 0, 0, 0, 0, 1)
    assert not figures.clean


def test_checked_tables_belong_to_their_groups() -> None:
    for table, group in TABLE_GROUPS.items():
        assert table in registry.get(group).tables
    for event_type, tables in OWNING_TABLES.items():
        for table in tables:
            types = registry.get(TABLE_GROUPS[table]).event_types
            assert types is None or event_type in types


def _answer(n: int, sent_at: float, latency_s: float, spooled: bool) -> Outcome:
    return Outcome(f"e{n}", "member.points.awarded", 200, spooled, None, sent_at, latency_s)


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([_answer(1, 0.0, 0.01, False)], None),
        # Sent before the outage was known (waited the deadline): left out.
        ([_answer(1, 0.0, 5.0, True), _answer(2, 1.0, 4.2, True), _answer(3, 5.5, 0.02, True)],
         (1, 20.0)),
        ([_answer(1, 0.0, 5.0, True)] + [_answer(n, 5.0 + n, 0.01, True) for n in range(2, 102)]
         + [_answer(200, 200.0, 0.3, True)], (101, 10.0)),
    ],
)  # fmt: skip
def test_spooled_after_detection(
    outcomes: list[Outcome], expected: tuple[int, float] | None
) -> None:
    found = spooled_after_detection(outcomes)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found[0], round(found[1], 6)) == expected
