"""What ``drip-bridge stack`` starts: the receiver, and each group once or N times."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import Settings
from dripbridge.stack import consume_plan, metrics_ports, plan, run_stack

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


def _port_of(argv: list[str]) -> int | None:
    return int(argv[argv.index("--metrics-port") + 1]) if "--metrics-port" in argv else None


@pytest.mark.parametrize(
    ("groups", "processes", "base", "ports"),
    [
        (
            ["leaderboard", "streaks"],
            1,
            0,
            {"receiver": None, "consumer-leaderboard": None, "consumer-streaks": None},
        ),
        (
            ["leaderboard", "streaks"],
            1,
            9100,
            {"receiver": None, "consumer-leaderboard": 9100, "consumer-streaks": 9101},
        ),
        (
            ["purchases", "archive"],
            2,
            9200,
            {
                "receiver": None,
                "consumer-purchases-1": 9200,
                "consumer-purchases-2": 9201,
                "consumer-archive-1": 9202,
                "consumer-archive-2": 9203,
            },
        ),
    ],
)
def test_each_consumer_process_of_the_stack_gets_a_metrics_port_of_its_own(
    groups: list[str], processes: int, base: int, ports: dict[str, int | None]
) -> None:
    commands = plan(groups, processes, base)
    assert {name: _port_of(argv) for name, argv in commands.items()} == ports
    for argv in commands.values():  # the option goes to `consume`, before the group names
        if "--metrics-port" in argv:
            assert argv[argv.index("consume") + 1] == "--metrics-port"


@pytest.mark.parametrize(
    ("processes", "base", "expected"),
    [
        (1, 0, {"consume-1": [*PY, "consume", "--processes", "1", "leaderboard"]}),
        (
            2,
            9300,
            {
                "consume-1": [
                    *PY,
                    "consume",
                    "--metrics-port",
                    "9300",
                    "--processes",
                    "1",
                    "leaderboard",
                ],
                "consume-2": [
                    *PY,
                    "consume",
                    "--metrics-port",
                    "9301",
                    "--processes",
                    "1",
                    "leaderboard",
                ],
            },
        ),
    ],
)
def test_consume_processes_get_consecutive_metrics_ports(
    processes: int, base: int, expected: dict[str, list[str]]
) -> None:
    assert consume_plan(["leaderboard"], processes, base) == expected


@pytest.mark.parametrize(
    ("names", "base", "expected"),
    [
        (["a", "b"], 0, {}),
        (["a", "b", "c"], 9100, {"a": 9100, "b": 9101, "c": 9102}),
        (["a", "b"], 65534, {"a": 65534, "b": 65535}),
    ],
)
def test_metrics_ports(names: list[str], base: int, expected: dict[str, int]) -> None:
    assert metrics_ports(names, base) == expected


def test_metrics_ports_past_65535_name_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"DRIP_METRICS_PORT=65535 .* 65534 or lower"):
        metrics_ports(["a", "b"], 65535)


def test_stack_refuses_a_metrics_port_that_runs_into_the_receiver(tmp_path: Path) -> None:
    settings = Settings(
        webhook_secrets="a-long-enough-secret",  # type: ignore[arg-type]
        http_port=9101,
        metrics_port=9100,
        local_dir=tmp_path,
    )
    with pytest.raises(ConfigError, match="DRIP_HTTP_PORT=9101"):
        run_stack(settings, ["leaderboard", "streaks"])
