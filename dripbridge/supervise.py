"""Child processes kept running in the foreground until the operator stops them.

Used by ``drip-bridge stack`` (the receiver and one process per group) and by ``drip-bridge
consume --processes N`` (N processes of the same groups, which split the partitions). A child
that exits is started again after a backoff (:mod:`dripbridge.restart_policy`), so a group
that crashed never takes the receiver or the other groups down with it. A child that exits
with the configuration-error code (78) has named the setting to fix on stderr and is left
stopped while the others keep running; when no child is left running, the supervisor exits 78
too. SIGINT or SIGTERM is passed on as SIGTERM, which lets every consumer finish or roll back
the batch in hand; children still running after ``grace_s`` are killed.

The operator can stop and start one group of a running stack (``drip-bridge stack stop
GROUP``, :mod:`dripbridge.stack_control`): a child stopped that way is not restarted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

from core.exit_codes import ExitCode
from dripbridge.restart_policy import RestartPolicy

GRACE_MARGIN_S = 5.0
"""Added to DRIP_SHUTDOWN_TIMEOUT_S for the supervisor's grace: the children bound their own
stop by the setting, the margin covers interpreter shutdown."""

_POLL_S = 0.2
# uvicorn re-raises the SIGTERM it handled once it has shut down, so "ended by SIGTERM" after a
# graceful shutdown is as clean as 0.
_CLEAN_EXITS = (0, -signal.SIGTERM)


def dripbridge_command(*args: str) -> list[str]:
    """argv of a ``drip-bridge`` command run by the same Python as this process."""
    return [sys.executable, "-m", "dripbridge", *args]


def say(line: str) -> None:
    """One line of the supervisor's own on stderr, beside its children's log lines."""
    print(f"drip-bridge: {line}", file=sys.stderr, flush=True)


@dataclass
class _Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    last_delay_s: float | None = None
    restarts: int = 0
    exits: list[int] = field(default_factory=list)
    held: bool = False  # stopped by the operator: not restarted until started again

    @property
    def left_stopped(self) -> bool:
        """Left stopped on a configuration error (not by the operator)."""
        return self.process is None and self.restart_at is None and not self.held

    def answers_to(self, target: str) -> bool:
        """True for ``receiver``, ``consumer-GROUP`` and ``consumer-GROUP-N`` given their names."""
        if self.name in (target, f"consumer-{target}"):
            return True
        head, _, tail = self.name.rpartition("-")
        return tail.isdigit() and head in (target, f"consumer-{target}")

    def start(self) -> None:
        # A restarted process reports how often it was restarted (drip_process_restarts).
        argv = [*self.argv, "--restarts", str(self.restarts)] if self.restarts else self.argv
        self.process = subprocess.Popen(argv)
        self.started_at = time.monotonic()
        self.restart_at = None


class Supervisor:
    """Runs ``commands`` (name -> argv), restarting the ones that exit, until stopped."""

    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        grace_s: float,
        policy: RestartPolicy | None = None,
        requests: Callable[[], list[tuple[str, str]]] | None = None,
    ) -> None:
        """``requests`` returns the operator's pending (target, "stop" or "start") requests."""
        self.children = {name: _Child(name, list(argv)) for name, argv in commands.items()}
        self.grace_s = grace_s
        self.policy = policy or RestartPolicy()
        self.requests = requests
        self.stopping = False

    def run(self) -> int:
        """Start every child and keep them running until :meth:`stop`; returns an exit code.

        0 when every child then stopped cleanly; 78 when children were left stopped by a
        configuration error (at once if that is every child); 1 when a child did not stop
        cleanly.
        """
        for child in self.children.values():
            child.start()
        while not self.stopping:
            for target, action in self.requests() if self.requests else []:
                self._operator(target, action)
            now = time.monotonic()
            for child in self.children.values():
                self._tend(child, now)
            if all(child.left_stopped for child in self.children.values()):
                say("every process stopped on a configuration error; fix it and start again")
                return ExitCode.CONFIG
            time.sleep(_POLL_S)
        return self._stop_all()

    def stop(self) -> None:
        """Ask :meth:`run` to stop every child and return (safe from a signal handler)."""
        self.stopping = True

    def _operator(self, target: str, action: str) -> None:
        chosen = [c for c in self.children.values() if c.answers_to(target)]
        if not chosen:
            say(f"{action} {target}: no such process (have: {', '.join(self.children)})")
        for child in chosen:
            if action == "stop" and not child.held:
                child.held = True
                child.restart_at = None
                if child.process is not None and child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
                say(f"{child.name}: stopping, on the operator's request; not restarted")
            elif action == "start" and child.process is None:
                child.held = False
                child.last_delay_s = None
                child.start()
                say(f"{child.name}: started, on the operator's request")
            elif action == "start":
                child.held = False  # still stopping: restarted as any exited process is

    def _tend(self, child: _Child, now: float) -> None:
        if child.process is None:
            if child.restart_at is not None and now >= child.restart_at:
                child.start()
            return
        code = child.process.poll()
        if code is None:
            return
        child.process = None
        child.exits.append(code)
        ran_s = now - child.started_at
        if child.held:
            say(f"{child.name} stopped ({code}) on the operator's request")
            return
        decision = self.policy.after_exit(code, ran_s, child.last_delay_s)
        if not decision.restart:
            say(
                f"{child.name} exited ({code}): a setting to fix, named in its error line "
                "above; not restarted, the others keep running"
            )
            return
        child.restarts += 1
        child.last_delay_s = decision.delay_s
        child.restart_at = now + decision.delay_s
        say(
            f"{child.name} exited ({code}) after {ran_s:.1f} s; restart #{child.restarts} "
            f"in {decision.delay_s:.1f} s"
        )

    def _stop_all(self) -> int:
        running = [c for c in self.children.values() if c.process is not None]
        for child in running:
            assert child.process is not None
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        unclean = []
        for child in running:
            assert child.process is not None
            try:
                code = child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                code = child.process.wait()
                say(f"{child.name} still running {self.grace_s:g} s after SIGTERM; killed")
            child.exits.append(code)
            if code not in _CLEAN_EXITS:
                unclean.append(child.name)
        if unclean:
            say(f"did not stop cleanly: {', '.join(unclean)}")
            return ExitCode.FAILED
        if any(child.left_stopped for child in self.children.values()):
            return ExitCode.CONFIG
        return ExitCode.OK


def supervise(
    commands: Mapping[str, Sequence[str]],
    banner: str,
    grace_s: float,
    requests: Callable[[], list[tuple[str, str]]] | None = None,
) -> int:
    """Run ``commands`` under a :class:`Supervisor` until SIGINT or SIGTERM; an exit code."""
    supervisor = Supervisor(commands, grace_s, requests=requests)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        supervisor.stop()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    say(f"{banner} (Ctrl-C stops all)")
    return supervisor.run()
