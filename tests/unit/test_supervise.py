"""The supervisor with real child processes: restarts, configuration errors, stopping."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.exit_codes import ExitCode
from dripbridge.restart_policy import RestartPolicy
from dripbridge.supervise import Supervisor

FAST = RestartPolicy(first_s=0.1, max_s=0.4, healthy_after_s=30.0)
SLEEPS = [sys.executable, "-c", "import time; time.sleep(60)"]


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _counting(path: Path, then: str) -> list[str]:
    """A child that appends a line to ``path`` each time it starts, then runs ``then``."""
    return _python(f"open({str(path)!r}, 'a').write('x\\n'); {then}")


def _in_background(supervisor: Supervisor) -> tuple[threading.Thread, list[int]]:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run()), daemon=True)
    thread.start()
    return thread, result


def _wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _starts(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_crashing_child_is_restarted_and_the_others_keep_running(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    crashes = tmp_path / "crashes"
    # Crashes on its first three starts, then runs.
    crashing = _counting(
        crashes,
        f"import time; time.sleep(60) if len(open({str(crashes)!r}).readlines()) > 3 else exit(1)",
    )
    supervisor = Supervisor({"steady": SLEEPS, "crashing": crashing}, 10.0, FAST)
    thread, result = _in_background(supervisor)
    _wait_for(lambda: _starts(crashes) == 4, 10, "three restarts")
    steady = supervisor.children["steady"].process
    assert steady is not None and steady.poll() is None  # never stopped for the other's sake
    supervisor.stop()
    thread.join(15)
    assert result == [ExitCode.OK]
    assert steady.poll() is not None
    assert supervisor.children["crashing"].exits == [1, 1, 1, -15]
    err = capfd.readouterr().err
    assert "crashing exited (1)" in err
    assert "restart #1 in 0.1 s" in err
    assert "restart #2 in 0.2 s" in err
    assert "restart #3 in 0.4 s" in err


def test_a_configuration_error_is_not_restarted(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    starts = tmp_path / "starts"
    supervisor = Supervisor(
        {"steady": SLEEPS, "misconfigured": _counting(starts, "raise SystemExit(78)")}, 10.0, FAST
    )
    thread, result = _in_background(supervisor)
    _wait_for(lambda: supervisor.children["misconfigured"].exits == [78], 10, "the exit")
    time.sleep(1.0)  # two and a half restart delays: no restart comes
    assert _starts(starts) == 1
    steady = supervisor.children["steady"].process
    assert steady is not None and steady.poll() is None
    supervisor.stop()
    thread.join(15)
    assert result == [ExitCode.CONFIG]  # stopped, but a process was left on a setting to fix
    err = capfd.readouterr().err
    assert "misconfigured exited (78): a setting to fix" in err
    assert "restart #" not in err


def test_every_child_on_a_configuration_error_ends_the_supervisor() -> None:
    supervisor = Supervisor(
        {"a": _python("raise SystemExit(78)"), "b": _python("raise SystemExit(78)")}, 10.0, FAST
    )
    thread, result = _in_background(supervisor)
    thread.join(10)
    assert result == [ExitCode.CONFIG]


def test_a_child_ignoring_sigterm_is_killed_after_the_grace(
    capfd: pytest.CaptureFixture[str],
) -> None:
    stubborn = _python(
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True, file=sys.stderr); time.sleep(60)"
    )
    supervisor = Supervisor({"stubborn": stubborn, "steady": SLEEPS}, 1.0, FAST)
    thread, result = _in_background(supervisor)
    _wait_for(lambda: "ready" in capfd.readouterr().err, 10, "the child to ignore SIGTERM")
    started = time.monotonic()
    supervisor.stop()
    thread.join(15)
    assert time.monotonic() - started < 5
    assert result == [ExitCode.FAILED]
    assert all(
        c.process is not None and c.process.poll() is not None for c in supervisor.children.values()
    )


@pytest.mark.parametrize(
    ("name", "target", "expected"),
    [
        ("receiver", "receiver", True),
        ("consumer-leaderboard", "leaderboard", True),
        ("consumer-leaderboard-2", "leaderboard", True),
        ("consume-2", "consume", True),
        ("consumer-leaderboard", "streaks", False),
        ("consumer-leaderboard-x", "leaderboard", False),
        ("receiver", "leaderboard", False),
    ],
)
def test_answers_to(name: str, target: str, expected: bool) -> None:
    from dripbridge.supervise import _Child

    assert _Child(name, []).answers_to(target) is expected


def test_the_operator_stops_and_starts_one_group(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from dripbridge.stack_control import StackControl

    control = StackControl(tmp_path / "stack")
    control.claim()
    starts = tmp_path / "starts"
    supervisor = Supervisor(
        {
            "receiver": SLEEPS,
            "consumer-leaderboard": _counting(starts, "import time; time.sleep(60)"),
        },
        10.0,
        FAST,
        requests=control.take_requests,
    )
    thread, result = _in_background(supervisor)
    group = supervisor.children["consumer-leaderboard"]
    _wait_for(lambda: _starts(starts) == 1, 10, "the group to start")
    receiver = supervisor.children["receiver"].process
    control.request("leaderboard", "stop")
    _wait_for(lambda: group.exits == [-15], 10, "the group to stop")
    time.sleep(1.0)  # well past a restart delay: the operator's stop is not a crash
    assert group.process is None and _starts(starts) == 1
    assert receiver is not None and receiver.poll() is None
    control.request("leaderboard", "start")
    _wait_for(lambda: _starts(starts) == 2, 10, "the group to start again")
    assert receiver.poll() is None
    supervisor.stop()
    thread.join(15)
    control.release()
    assert result == [ExitCode.OK]
    err = capfd.readouterr().err
    assert "consumer-leaderboard: stopping, on the operator's request" in err
    assert "consumer-leaderboard: started, on the operator's request" in err
    assert "restart #" not in err
    assert not control.pid_path.exists()


def test_requests_need_a_running_stack(tmp_path: Path) -> None:
    from dripbridge.stack_control import NoStackRunning, StackControl

    control = StackControl(tmp_path / "stack")
    with pytest.raises(NoStackRunning, match="no stack is running"):
        control.request("leaderboard", "stop")
    control.claim()
    control.request("leaderboard", "stop")
    control.request("receiver", "start")
    assert control.take_requests() == [("leaderboard", "stop"), ("receiver", "start")]
    assert control.take_requests() == []


def test_a_restarted_child_is_told_its_restart_count(tmp_path: Path) -> None:
    # drip-bridge serve/consume take --restarts N and report it as drip_process_restarts.
    seen = tmp_path / "argv"
    child = _python(
        f"import sys; open({str(seen)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n'); "
        "sys.exit(1) if len(sys.argv) < 3 or sys.argv[2] != '2' else __import__('time').sleep(60)"
    )
    supervisor = Supervisor({"child": child}, 10.0, FAST)
    thread, _ = _in_background(supervisor)
    _wait_for(lambda: seen.exists() and len(seen.read_text().splitlines()) == 3, 10, "2 restarts")
    supervisor.stop()
    thread.join(15)
    assert seen.read_text().splitlines() == ["", "--restarts 1", "--restarts 2"]
