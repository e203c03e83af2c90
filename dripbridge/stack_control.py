"""Talking to a running ``drip-bridge stack``: stop or start one group without the others.

The supervisor keeps a directory under ``DRIP_LOCAL_DIR`` (``stack/``) holding its pid file
and a ``requests/`` folder. ``drip-bridge stack stop GROUP`` drops a request file there
(``<GROUP>.stop``); the supervisor, which looks every 0.2 s, takes it away and acts on it. A
process the operator stopped is not restarted until ``stack start GROUP``, which also starts
again a process left stopped on a configuration error (once the setting is fixed in ``.env``:
a process reads its settings when it starts).
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import DripBridgeError

ACTIONS = ("stop", "start")


class NoStackRunning(DripBridgeError):
    """No live supervisor owns the control directory."""


class StackControl:
    """The control directory of one stack: its supervisor's pid and pending requests."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pid_path = directory / "supervisor.pid"
        self.requests = directory / "requests"

    def supervisor_pid(self) -> int | None:
        """The pid of the live supervisor owning this directory, if any."""
        try:
            pid = int(self.pid_path.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def claim(self) -> None:
        """Make this process the supervisor: record its pid and drop stale requests.

        Refuses (DripBridgeError) while another live supervisor owns the directory.
        """
        other = self.supervisor_pid()
        if other is not None and other != os.getpid():
            raise DripBridgeError(
                f"a stack is already running (pid {other}, {self.pid_path}); stop it first, "
                "or give this one another DRIP_LOCAL_DIR"
            )
        self.requests.mkdir(parents=True, exist_ok=True)
        for stale in self.requests.iterdir():
            stale.unlink(missing_ok=True)
        self.pid_path.write_text(f"{os.getpid()}\n")

    def release(self) -> None:
        if self.supervisor_pid() == os.getpid():
            self.pid_path.unlink(missing_ok=True)

    def request(self, target: str, action: str) -> None:
        """Ask the running supervisor to ``action`` (stop or start) ``target``'s processes."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if self.supervisor_pid() is None:
            raise NoStackRunning(
                f"no stack is running with its control files in {self.directory} "
                "(start one with drip-bridge stack, from the same directory)"
            )
        (self.requests / f"{target}.{action}").touch()

    def take_requests(self) -> list[tuple[str, str]]:
        """The pending (target, action) requests, oldest first, each removed as it is taken."""
        try:
            found = sorted(self.requests.iterdir(), key=lambda p: p.stat().st_mtime_ns)
        except OSError:
            return []
        taken = []
        for path in found:
            target, _, action = path.name.rpartition(".")
            path.unlink(missing_ok=True)
            if target and action in ACTIONS:
                taken.append((target, action))
        return taken
