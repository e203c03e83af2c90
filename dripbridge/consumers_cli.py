"""``drip-bridge consumers``: every registered group, its topics and tables, and its lag.

The figures come from Kafka's end offsets and the offsets stored in PostgreSQL (see
:mod:`consumers.ops.status`), so they are exact even when no process of the group runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from consumers import registry
from consumers.ops.status import GroupStatus, collect
from dripbridge.config import load_settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON, every partition included.")]


def consumers_command(as_json: JsonOpt = False) -> None:
    """List the consumer groups with their lag per partition, and whether each is caught up."""

    settings = load_settings()
    statuses = asyncio.run(collect(settings, registry.all_groups()))
    if as_json:
        typer.echo(json.dumps([s.as_json() for s in statuses], indent=2))
        return
    render(statuses, settings.topic_prefix, Console())


def render(statuses: Sequence[GroupStatus], prefix: str, console: Console) -> None:
    """One row per group (topics without their prefix), then every partition that is behind."""
    groups = Table(title=f"Consumer groups (topics {prefix}.*)", title_justify="left")
    for column in ("group", "group id", "topics", "tables", "lag", "status"):
        groups.add_column(column, justify="right" if column == "lag" else "left")
    for s in statuses:
        state = "[green]caught up[/]" if s.caught_up else "[yellow]behind[/]"
        if s.missing_topics:
            state += f"\n[red]{len(s.missing_topics)} topic(s) missing[/]"
        groups.add_row(
            s.name,
            s.group_id,
            "\n".join(t.removeprefix(f"{prefix}.") for t in s.topics),
            "\n".join(s.tables),
            f"{s.lag:,}",
            state,
        )
    if any(s.missing_topics for s in statuses):
        groups.caption = (
            "missing topics: `drip-bridge topics create` makes them (so do serve/consume)"
        )
    console.print(groups)
    behind = [(s, p) for s in statuses for p in s.partitions if p.lag]
    if not behind:
        return
    table = Table(title="Partitions behind", title_justify="left")
    for column in ("group", "topic", "partition", "stored next offset", "end offset", "lag"):
        table.add_column(column, justify="left" if column in ("group", "topic") else "right")
    for s, p in behind:
        stored = f"{p.next_offset:,}" if p.next_offset is not None else "none (log start)"
        table.add_row(s.name, p.topic, str(p.partition), stored, f"{p.end_offset:,}", f"{p.lag:,}")
    console.print(table)
