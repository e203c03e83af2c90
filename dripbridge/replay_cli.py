"""``drip-bridge replay GROUP``: rebuild a group's tables, or re-apply events since a time.

The machinery lives in :mod:`consumers.ops.replay`; this module parses the options, shows a
progress bar on stderr while the run goes, and prints a summary when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from consumers import registry
from consumers.ops import replay as replays
from consumers.ops.replay import ReplaySummary
from dripbridge.config import load_settings
from dripbridge.stack import control_of

EPILOG = (
    "Both run beside the group's live processes: --from-beginning holds the group's writers "
    "only while it swaps (the summary says how long). See README, 'Replay and backfill'."
)

GroupArg = Annotated[str, typer.Argument(help="The group to replay (see drip-bridge consumers).")]
BeginningOpt = Annotated[
    bool,
    typer.Option(
        "--from-beginning",
        help="Rebuild the group's tables from its topics into shadow tables, then swap them in.",
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="TIMESTAMP",
        help="Re-apply events published at or after this ISO 8601 time or date (UTC if no "
        "offset), on the live tables; stores no offsets.",
    ),
]
OfflineOpt = Annotated[
    bool,
    typer.Option("--offline", hidden=True, help="Gone: rebuilds run beside live processes."),
]


def stop_advice(group: str, *, stack_running: bool, in_compose: bool) -> str:
    """How to stop ``group``'s processes on the stack this command runs beside.

    A live ``drip-bridge stack`` supervisor (``./dev up`` without Docker) takes ``stack stop``;
    a command reaching Kafka by docker-compose.yml's service names runs in that stack;
    otherwise the processes are the operator's own ``drip-bridge consume`` (or compose's, with
    the command run from the host).
    """
    if stack_running:
        return f"drip-bridge stack stop {group} (and drip-bridge stack start {group} after)"
    if in_compose:
        return f"docker compose stop consumer-{group} (and docker compose start consumer-{group})"
    return (
        f"stop the drip-bridge consume processes running {group} (Ctrl-C or SIGTERM: each "
        f"finishes its batch), or docker compose stop consumer-{group} under docker compose"
    )


_COMPOSE_KAFKA_HOSTS = frozenset({"kafka", "kafka-1", "kafka-2", "kafka-3"})


def on_compose_network(bootstrap_servers: str) -> bool:
    """True when Kafka is reached by the service names of docker-compose.yml."""
    hosts = {s.strip().rpartition(":")[0] or s.strip() for s in bootstrap_servers.split(",")}
    return bool(hosts & _COMPOSE_KAFKA_HOSTS)


def offline_refusal(group: str, advice: str) -> str:
    """Why ``--offline`` is refused, and how to rebuild with the group stopped all the same."""
    return (
        f"--offline is gone: replay {group} --from-beginning runs beside the group's live "
        "processes and holds their writes only while it swaps (the summary says how long); "
        "a rebuild with them stopped was not measurably faster. To rebuild with the group "
        f"stopped all the same: {advice}, then replay --from-beginning."
    )


def parse_since(text: str) -> datetime:
    """An ISO 8601 date-time or date; UTC when it names no offset, midnight for a date."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise typer.BadParameter(
                f"{text!r} is not an ISO 8601 date-time or date (2024-01-20T15:30:00Z)",
                param_hint="--since",
            ) from None
        parsed = datetime(day.year, day.month, day.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _RateColumn(ProgressColumn):
    """Records per second, as rich measures it over the last updates."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} events/s" if speed else "", style="progress.data.speed")


def replay_command(
    group: GroupArg,
    from_beginning: BeginningOpt = False,
    since: SinceOpt = None,
    offline: OfflineOpt = False,
) -> None:
    """Rebuild a group's tables from the beginning, or re-apply events since a time."""

    if from_beginning == (since is not None):
        raise typer.BadParameter("give exactly one of --from-beginning and --since TIMESTAMP")
    when = parse_since(since) if since is not None else None
    chosen = registry.get(group)
    settings = load_settings()
    if offline:
        advice = stop_advice(
            chosen.name,
            stack_running=control_of(settings).supervisor_pid() is not None,
            in_compose=on_compose_network(settings.kafka_bootstrap_servers),
        )
        raise typer.BadParameter(offline_refusal(chosen.name, advice), param_hint="--offline")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with progress:
        task = progress.add_task(f"replay {chosen.name}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        if when is None:
            run = replays.from_beginning(settings, chosen, advance)
        else:
            run = replays.since(settings, chosen, when, advance)
        summary = asyncio.run(run)
    print_summary(summary, Console())


def print_summary(summary: ReplaySummary, console: Console) -> None:
    """The figures of a finished replay, one per line."""
    table = Table(title=f"replay {summary.group} {summary.mode}: done", title_justify="left")
    table.add_column("")
    table.add_column("", justify="right")
    table.show_header = False
    table.add_row("records read", f"{summary.records:,}")
    table.add_row("events applied", f"{summary.events:,}")
    table.add_row("dead letters", f"{summary.dead_letters:,}")
    table.add_row("partitions", f"{summary.partitions:,}")
    table.add_row("duration", f"{summary.seconds:,.1f} s")
    table.add_row("rate", f"{summary.rate:,.0f} events/s")
    if summary.tables_swapped:
        table.add_row(
            "live writers held",
            f"{summary.hold_seconds * 1000:,.0f} ms ({summary.held_records:,} records caught up)",
        )
    swapped = ", ".join(summary.tables_swapped) or "none (live tables updated in place)"
    table.add_row("tables swapped", swapped)
    console.print(table)
