"""`drip-bridge replay` options and summary; the replay itself runs in integration tests."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from consumers.ops.replay import ReplaySummary
from dripbridge.cli import app
from dripbridge.replay_cli import (
    offline_refusal,
    on_compose_network,
    parse_since,
    print_summary,
    stop_advice,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-20", datetime(2024, 1, 20, tzinfo=UTC)),
        ("2024-01-20T15:30:00Z", datetime(2024, 1, 20, 15, 30, tzinfo=UTC)),
        ("2024-01-20T15:30:00", datetime(2024, 1, 20, 15, 30, tzinfo=UTC)),
        ("2024-01-20 15:30", datetime(2024, 1, 20, 15, 30, tzinfo=UTC)),
        (
            "2024-01-20T17:30:00+02:00",
            datetime(2024, 1, 20, 17, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
        (" 2024-01-20 ", datetime(2024, 1, 20, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    parsed = parse_since(text)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01", "20/01/2024", ""])
def test_parse_since_refuses_what_is_not_iso_8601(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="ISO 8601"):
        parse_since(text)


@pytest.mark.parametrize(
    "args",
    [
        ["replay", "leaderboard"],
        ["replay", "leaderboard", "--from-beginning", "--since", "2024-01-20"],
    ],
)
def test_exactly_one_mode(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "exactly one of --from-beginning and --since" in result.output


def test_summary_shows_every_figure() -> None:
    summary = ReplaySummary(
        "leaderboard",
        "from the beginning",
        records=3075,
        events=3069,
        dead_letters=6,
        seconds=1.5,
        tables_swapped=("members", "point_awards"),
        partitions=9,
        hold_seconds=0.2345,
        held_records=42,
    )
    out = io.StringIO()
    print_summary(summary, Console(file=out, width=120))
    text = out.getvalue()
    for figure in (
        "3,075",
        "3,069",
        "6",
        "9",
        "1.5 s",
        "2,050 events/s",
        "members, point_awards",
        "live writers held",
        "234 ms (42 records caught up)",
    ):
        assert figure in text
    assert ReplaySummary("g", "since", seconds=0).rate == 0


def test_since_summary_shows_no_hold() -> None:
    out = io.StringIO()
    print_summary(ReplaySummary("g", "since"), Console(file=out, width=120))
    assert "writers held" not in out.getvalue()


@pytest.mark.parametrize(
    ("stack_running", "in_compose", "says", "not_says"),
    [
        (True, False, "drip-bridge stack stop streaks", "docker"),
        (True, True, "drip-bridge stack stop streaks", "docker"),
        (False, True, "docker compose stop consumer-streaks", "drip-bridge stack"),
        (False, False, "drip-bridge consume processes running streaks", "drip-bridge stack"),
    ],
)
def test_stop_advice_names_the_stack_in_use(
    stack_running: bool, in_compose: bool, says: str, not_says: str
) -> None:
    advice = stop_advice("streaks", stack_running=stack_running, in_compose=in_compose)
    assert says in advice and not_says not in advice


def test_offline_is_refused_with_the_way_to_stop_the_group() -> None:
    result = CliRunner().invoke(app, ["replay", "leaderboard", "--from-beginning", "--offline"])
    assert result.exit_code == 2
    assert "--offline is gone" in result.output
    assert "then replay --from-beginning" in offline_refusal("g", "x")


@pytest.mark.parametrize(
    ("servers", "compose"),
    [
        ("kafka:9092", True),
        ("kafka-1:9092,kafka-2:9092,kafka-3:9092", True),
        ("127.0.0.1:9092", False),
        ("localhost:9092, 127.0.0.1:9093", False),
        ("kafka.example.com:9092", False),
    ],
)
def test_compose_is_recognised_by_its_kafka_service_names(servers: str, compose: bool) -> None:
    assert on_compose_network(servers) is compose
