"""The whole stack in the foreground without Docker: the receiver and one process per group.

Each consumer group runs in a process of its own, as in docker-compose.yml, so a slow or failing
group never holds up another. A process that exits is restarted after a backoff, and one that
exits on a configuration error is left stopped while the others keep running
(:mod:`dripbridge.supervise`); the stack stops when the operator stops it. One group can be
stopped and started on its own while the stack runs (:mod:`dripbridge.stack_control`).

With ``DRIP_METRICS_PORT`` set, each consumer process serves its own ``/metrics`` on a port of
its own: the base port for the first consumer process of the plan, the next port for the next,
and so on (:func:`metrics_ports`); the receiver's metrics stay on its HTTP port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.errors import ConfigError
from core.settings import Settings
from dripbridge.stack_control import StackControl
from dripbridge.supervise import GRACE_MARGIN_S, dripbridge_command, supervise


def plan(
    group_names: Sequence[str], processes: int = 1, metrics_port: int = 0
) -> dict[str, list[str]]:
    """Process name -> argv for the receiver and every consumer group.

    ``processes`` above 1 gives each group that many processes, which split its partitions.
    ``metrics_port`` (``DRIP_METRICS_PORT``), when not 0, gives the consumer processes the ports
    from it upwards, one each, in the order of the plan.
    """
    consumers = {
        f"consumer-{name}" + (f"-{n}" if processes > 1 else ""): dripbridge_command(
            "consume", "--processes", "1", name
        )
        for name in group_names
        for n in range(1, processes + 1)
    }
    return {"receiver": dripbridge_command("serve"), **with_metrics_ports(consumers, metrics_port)}


def consume_plan(
    group_names: Sequence[str], processes: int, metrics_port: int = 0
) -> dict[str, list[str]]:
    """Process name -> argv for ``drip-bridge consume --processes N``: N processes of the groups.

    With ``metrics_port`` (not 0), process n serves its metrics on ``metrics_port + n - 1``.
    """
    argv = dripbridge_command("consume", "--processes", "1", *group_names)
    commands = {f"consume-{n}": list(argv) for n in range(1, processes + 1)}
    return with_metrics_ports(commands, metrics_port)


def metrics_ports(names: Sequence[str], base: int) -> dict[str, int]:
    """Process name -> its metrics port: ``base``, ``base + 1``, ... in order; {} when 0.

    One port per process, since processes on one host cannot share one. A ConfigError names
    ``DRIP_METRICS_PORT`` when the run of ports would pass 65535.
    """
    if not base:
        return {}
    last = base + len(names) - 1
    if last > 65535:
        raise ConfigError(
            f"DRIP_METRICS_PORT={base} leaves no room for {len(names)} consumer processes "
            f"(one port each, up to {last}); set it to {65536 - len(names)} or lower"
        )
    return {name: base + n for n, name in enumerate(names)}


def with_metrics_ports(commands: dict[str, list[str]], base: int) -> dict[str, list[str]]:
    """``commands`` (consumer processes) with ``--metrics-port`` added per :func:`metrics_ports`."""
    ports = metrics_ports(list(commands), base)
    return {name: _with_port(argv, ports.get(name)) for name, argv in commands.items()}


def _with_port(argv: list[str], port: int | None) -> list[str]:
    if port is None:
        return argv
    at = argv.index("consume") + 1
    return [*argv[:at], "--metrics-port", str(port), *argv[at:]]


def metrics_banner(ports: Mapping[str, int]) -> str:
    """``; metrics: consumer-leaderboard :9100, ...`` for the banner; '' when none is served."""
    served = ", ".join(f"{name} :{port}" for name, port in ports.items())
    return f"; metrics: {served}" if served else ""


def run_stack(settings: Settings, group_names: Sequence[str]) -> int:
    """Run the receiver and the groups until a signal arrives; returns an exit code."""
    settings.require_webhook_secrets()  # fail here, before anything starts, with the clear message
    commands = plan(group_names, settings.consumer_processes, settings.metrics_port)
    ports = metrics_ports([n for n in commands if n != "receiver"], settings.metrics_port)
    if settings.http_port in ports.values():
        raise ConfigError(
            f"DRIP_METRICS_PORT={settings.metrics_port} gives a consumer process "
            f"DRIP_HTTP_PORT={settings.http_port}, the receiver's; set DRIP_METRICS_PORT "
            f"above {settings.http_port} or below {settings.http_port - len(ports) + 1}"
        )
    banner = (
        f"receiver on http://{settings.http_host}:{settings.http_port}/webhooks/drip, "
        f"groups: {', '.join(group_names) or 'none'}"
    )
    if settings.consumer_processes > 1:
        banner += f" ({settings.consumer_processes} processes each)"
    banner += metrics_banner(ports)
    grace_s = settings.shutdown_timeout_s + GRACE_MARGIN_S
    control = control_of(settings)
    control.claim()
    try:
        return supervise(commands, banner, grace_s, requests=control.take_requests)
    finally:
        control.release()


def control_of(settings: Settings) -> StackControl:
    """The control directory of the stack run with ``settings`` (under DRIP_LOCAL_DIR)."""
    return StackControl(settings.local_dir / "stack")
