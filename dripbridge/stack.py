"""The whole stack in the foreground without Docker: the receiver and one process per group.

Each consumer group runs in a process of its own, as in docker-compose.yml, so a slow or failing
group never holds up another. A process that exits is restarted after a backoff, and one that
exits on a configuration error is left stopped while the others keep running
(:mod:`dripbridge.supervise`); the stack stops when the operator stops it. One group can be
stopped and started on its own while the stack runs (:mod:`dripbridge.stack_control`).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.settings import Settings
from dripbridge.stack_control import StackControl
from dripbridge.supervise import GRACE_MARGIN_S, dripbridge_command, supervise


def plan(group_names: Sequence[str], processes: int = 1) -> dict[str, list[str]]:
    """Process name -> argv for the receiver and every consumer group.

    ``processes`` above 1 gives each group that many processes, which split its partitions.
    """
    commands = {"receiver": dripbridge_command("serve")}
    for name in group_names:
        for n in range(1, processes + 1):
            suffix = f"-{n}" if processes > 1 else ""
            commands[f"consumer-{name}{suffix}"] = dripbridge_command(
                "consume", "--processes", "1", name
            )
    return commands


def run_stack(settings: Settings, group_names: Sequence[str]) -> int:
    """Run the receiver and the groups until a signal arrives; returns an exit code."""
    settings.require_webhook_secrets()  # fail here, before anything starts, with the clear message
    banner = (
        f"receiver on http://{settings.http_host}:{settings.http_port}/webhooks/drip, "
        f"groups: {', '.join(group_names) or 'none'}"
    )
    if settings.consumer_processes > 1:
        banner += f" ({settings.consumer_processes} processes each)"
    grace_s = settings.shutdown_timeout_s + GRACE_MARGIN_S
    control = control_of(settings)
    control.claim()
    try:
        commands = plan(group_names, settings.consumer_processes)
        return supervise(commands, banner, grace_s, requests=control.take_requests)
    finally:
        control.release()


def control_of(settings: Settings) -> StackControl:
    """The control directory of the stack run with ``settings`` (under DRIP_LOCAL_DIR)."""
    return StackControl(settings.local_dir / "stack")
