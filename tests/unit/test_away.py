"""Lines about a service that is away, and the filter that thins a library's repeated lines."""

from __future__ import annotations

import logging

import pytest

from core.away import Absence, RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([("ok", 0)], [None]),
        (
            [("fail", 0), ("fail", 10), ("fail", 59), ("fail", 60), ("fail", 100), ("ok", 130)],
            [
                "Kafka is away (refused); waiting for it",
                None,
                None,
                "Kafka still away after 60 s (refused)",
                None,
                "Kafka is back after 130 s",
            ],
        ),
        (
            [("fail", 0), ("ok", 5), ("ok", 6), ("fail", 7)],
            [
                "Kafka is away (refused); waiting for it",
                "Kafka is back after 5 s",
                None,
                "Kafka is away (refused); waiting for it",
            ],
        ),
    ],
)
def test_absence_lines(steps: list[tuple[str, float]], expected: list[str | None]) -> None:
    clock = Clock()
    absence = Absence("Kafka", remind_every_s=60, clock=clock)
    lines = []
    for what, at in steps:
        clock.now = 1000.0 + at
        lines.append(absence.failed("refused") if what == "fail" else absence.succeeded())
    assert lines == expected


def _record(name: str, msg: str, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ConnectionRefusedError("refused")
        except ConnectionRefusedError as error:
            exc_info = (type(error), error, error.__traceback__)
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, exc_info)


@pytest.mark.parametrize(
    ("records", "passed"),
    [
        # (logger, message template, seconds): repeats within a minute are left out
        (
            [("aiokafka.conn", "Unable connect to %s", 0)] * 3
            + [("aiokafka.conn", "Unable connect to %s", 61)],
            ["Unable connect to %s", "Unable connect to %s [2 like it left out in the last 60 s]"],
        ),
        # another template or another logger is another line
        (
            [("aiokafka.conn", "a", 0), ("aiokafka.conn", "b", 1), ("aiokafka", "a", 2)],
            ["a", "b", "a"],
        ),
        # other libraries are untouched
        ([("uvicorn.error", "x", 0)] * 3, ["x", "x", "x"]),
        ([("aiokafkax", "x", 0)] * 2, ["x", "x"]),
    ],
)
def test_repeat_filter(records: list[tuple[str, str, float]], passed: list[str]) -> None:
    clock = Clock()
    repeat = RepeatFilter("aiokafka", every_s=60, clock=clock)
    out = []
    for name, msg, at in records:
        clock.now = 1000.0 + at
        record = _record(name, msg)
        if repeat.filter(record):
            out.append(record.msg)
    assert out == passed


def test_repeat_filter_drops_aiokafka_tracebacks() -> None:
    record = _record("aiokafka", "Unable to connect", exc=True)
    assert RepeatFilter("aiokafka").filter(record)
    assert record.exc_info is None
