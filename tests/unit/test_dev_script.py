"""./dev takes --brokers N out of its arguments and passes the rest on untouched."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

DEV = Path(__file__).resolve().parents[2] / "dev"

# Runs the script's own take_brokers function, cut out of it, on the given arguments.
_HARNESS = """
eval "$(sed -n '/^take_brokers() {/,/^}/p' "$DEV")"
set -u
take_brokers "$@"
echo "$BROKERS"
for arg in "${ARGS[@]}"; do echo "arg:$arg"; done
"""


def _take_brokers(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", _HARNESS, "harness", *args],
        env={"DEV": str(DEV), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "brokers", "rest"),
    [
        ((), "1", []),
        (("--brokers", "3"), "3", []),
        (("--brokers=3",), "3", []),
        (("leaderboard", "--brokers", "3", "streaks"), "3", ["leaderboard", "streaks"]),
        (("receiver", "--seconds", "5"), "1", ["receiver", "--seconds", "5"]),
        (
            (
                "--build-arg",
                "a b",
            ),
            "1",
            ["--build-arg", "a b"],
        ),
    ],
)
def test_brokers_are_taken_out_and_the_rest_passed_on(
    args: tuple[str, ...], brokers: str, rest: list[str]
) -> None:
    done = _take_brokers(*args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == brokers
    assert [line.removeprefix("arg:") for line in lines[1:]] == rest


@pytest.mark.parametrize("args", [("--brokers",), ("--brokers", "three"), ("--brokers=",)])
def test_a_missing_or_non_numeric_count_is_refused(args: tuple[str, ...]) -> None:
    done = _take_brokers(*args)
    assert done.returncode == 2
    assert "--brokers needs a number" in done.stderr
