"""Child processes run in the foreground as one unit: all run, or none do.

Used by ``drip-bridge stack`` (the receiver and one process per group) and by ``drip-bridge
consume --processes N`` (N processes of the same groups, which split the partitions). If any
child exits, the others are stopped too, so that a supervisor (or the operator at the terminal)
sees the failure instead of a half-running service. SIGINT or SIGTERM is passed on as SIGTERM,
which lets every consumer finish or roll back the batch in hand.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType

# How long children get to finish their work after SIGTERM before they are killed.
_GRACE_S = 30.0
_CLEAN_EXITS = (0, -signal.SIGTERM)


def dripbridge_command(*args: str) -> list[str]:
    """argv of a ``drip-bridge`` command run by the same Python as this process."""
    return [sys.executable, "-m", "dripbridge", *args]


def supervise(commands: Mapping[str, Sequence[str]], banner: str) -> int:
    """Start every command, wait until one exits or a signal arrives, stop the rest.

    Returns 0 when the run was ended by a signal and every child then exited cleanly, else 1
    (naming on stderr the child that ended the run, or the ones that failed to stop cleanly).
    """
    children = {name: subprocess.Popen(list(argv)) for name, argv in commands.items()}
    print(f"drip-bridge: {banner} (Ctrl-C stops all)", file=sys.stderr, flush=True)
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    ended: str | None = None
    while not stopping and ended is None:
        ended = next((name for name, child in children.items() if child.poll() is not None), None)
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_S
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    if ended is not None:
        code = children[ended].returncode
        print(f"drip-bridge: {ended} exited ({code}); stopped the rest", file=sys.stderr)
        return 1
    # uvicorn re-raises the SIGTERM it handled once it has shut down, so "ended by SIGTERM"
    # after a graceful shutdown is as clean as 0.
    unclean = [name for name, child in children.items() if child.returncode not in _CLEAN_EXITS]
    if unclean:
        print(f"drip-bridge: did not stop cleanly: {', '.join(unclean)}", file=sys.stderr)
        return 1
    return 0
