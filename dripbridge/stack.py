"""The whole stack in the foreground without Docker: the receiver and one process per group.

Each consumer group runs in a process of its own, as in docker-compose.yml, so a slow or failing
group never holds up another. If any process exits, the others are stopped too, so that a
supervisor (or the operator at the terminal) sees the failure instead of a half-running stack.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from dripbridge.settings import Settings


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dripbridge", *args]


def plan(group_names: Sequence[str]) -> dict[str, list[str]]:
    """Process name -> argv for the receiver and every consumer group."""
    processes = {"receiver": _command("serve")}
    for name in group_names:
        processes[f"consumer-{name}"] = _command("consume", name)
    return processes


def run_stack(settings: Settings, group_names: Sequence[str]) -> int:
    """Run the receiver and the groups until one exits or a signal arrives; returns an exit code."""
    settings.require_webhook_secrets()  # fail here, before anything starts, with the clear message
    children = {name: subprocess.Popen(argv) for name, argv in plan(group_names).items()}
    print(
        f"drip-bridge: receiver on http://{settings.http_host}:{settings.http_port}/webhooks/drip, "
        f"groups: {', '.join(group_names) or 'none'} (Ctrl-C stops all)",
        file=sys.stderr,
        flush=True,
    )
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    failed: str | None = None
    while not stopping and failed is None:
        for name, child in children.items():
            if child.poll() is not None:
                failed = name
                break
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    if failed is not None:
        print(f"drip-bridge: {failed} exited ({children[failed].returncode}); stack stopped",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0
