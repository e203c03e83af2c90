"""``drip-bridge trace EVENT_ID``: one event's place in Kafka, and what each group made of it.

The machinery lives in :mod:`consumers.ops.trace`; this module prints its answer as tables
(rich) or as JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from consumers import registry
from consumers.ops.trace import EventTrace, trace_event
from dripbridge.config import load_settings

EPILOG = (
    "The event is found through the archive group's events table (else its dead letters); "
    "exit code 1 when neither knows the id."
)

EventIdArg = Annotated[str, typer.Argument(help="The event's id (DRIP's id field).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON, every row included.")]

_STATE_STYLE = {"applied": "green", "dead letter": "red", "not yet applied": "yellow"}


def trace_command(event_id: EventIdArg, as_json: JsonOpt = False) -> None:
    """Show an event's topic, partition and offset, whether each group reading it has applied
    it, the rows it produced in each group's tables, and any dead letter."""

    settings = load_settings()
    trace = asyncio.run(trace_event(settings, registry.all_groups(), event_id))
    if as_json:
        typer.echo(json.dumps(trace.as_json(), indent=2, default=str))
        return
    render(trace, Console())


def render(trace: EventTrace, console: Console) -> None:
    """The event's place, one row per group reading it, then each group's rows, then any dead
    letters."""
    place = trace.place
    console.print(
        f"event [bold]{escape(trace.event_id)}[/]: {escape(place.topic)} "
        f"partition {place.partition} offset {place.offset:,} (from {place.found_in})"
    )
    if trace.note:
        console.print(f"[yellow]{escape(trace.note)}[/]")
    groups = Table(title="Groups reading its topic", title_justify="left")
    for column in ("group", "group id", "stored next offset", "state", "rows"):
        groups.add_column(column, justify="right" if column == "rows" else "left")
    for g in trace.groups:
        stored = f"{g.next_offset:,}" if g.next_offset is not None else "none (never read)"
        state = f"[{_STATE_STYLE[g.state]}]{g.state}[/]"
        groups.add_row(g.name, g.group_id, stored, state, str(sum(map(len, g.rows.values()))))
    console.print(groups)
    for g in trace.groups:
        for table, rows in g.rows.items():
            if rows:
                console.print(_rows_table(f"{g.name}: {table}", rows))
    if trace.dead_letters:
        console.print(_rows_table("Dead letters", list(trace.dead_letters)))


def _rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=escape(title), title_justify="left")
    for column in rows[0]:
        table.add_column(escape(column))
    for row in rows:
        table.add_row(*(escape("" if value is None else str(value)) for value in row.values()))
    return table
