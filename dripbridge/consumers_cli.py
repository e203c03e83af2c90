"""``drip-bridge consumers``: every registered group, its topics and tables, and its lag.

The figures come from Kafka's end offsets and the offsets stored in PostgreSQL (see
:mod:`consumers.ops.status`), so they are exact even when no process of the group runs. Who
runs each group (host, member, partitions held) comes from Kafka's group coordinator: a group
with no live member reads "stopped", whatever its lag.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from consumers import registry
from consumers.ops.live_members import Member
from consumers.ops.status import GroupStatus, collect
from dripbridge.config import load_settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON, every partition included.")]


def consumers_command(as_json: JsonOpt = False) -> None:
    """List the consumer groups: lag per partition, the processes running each, and whether
    each is caught up, behind or stopped."""

    settings = load_settings()
    statuses = asyncio.run(collect(settings, registry.all_groups()))
    if as_json:
        typer.echo(json.dumps([s.as_json() for s in statuses], indent=2))
        return
    render(statuses, settings.topic_prefix, Console())


_STATE_STYLE = {
    "caught up": "green",
    "behind": "yellow",
    "stopped": "red",
    "stopped, behind": "red",
}


def render(statuses: Sequence[GroupStatus], prefix: str, console: Console) -> None:
    """One row per group (topics without their prefix), then the processes running each, then
    every partition that is behind."""
    groups = Table(title=f"Consumer groups (topics {prefix}.*)", title_justify="left")
    for column in ("group", "group id", "topics", "tables", "processes", "lag", "status"):
        groups.add_column(column, justify="right" if column in ("lag", "processes") else "left")
    for s in statuses:
        state = f"[{_STATE_STYLE[s.state]}]{s.state}[/]"
        if s.missing_topics:
            state += f"\n[red]{len(s.missing_topics)} topic(s) missing[/]"
        groups.add_row(
            s.name,
            s.group_id,
            "\n".join(t.removeprefix(f"{prefix}.") for t in s.topics),
            "\n".join(s.tables),
            str(len(s.members)),
            f"{s.lag:,}",
            state,
        )
    if any(s.missing_topics for s in statuses):
        groups.caption = (
            "missing topics: `drip-bridge topics create` makes them (so do serve/consume)"
        )
    console.print(groups)
    running = [(s, m) for s in statuses for m in s.members]
    if running:
        members = Table(title="Processes running", title_justify="left")
        for column in ("group", "host", "member", "partitions"):
            members.add_column(column)
        for s, m in running:
            members.add_row(s.name, m.client_host, m.member_id, held(m, prefix))
        console.print(members)
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


def held(member: Member, prefix: str) -> str:
    """``member.joined[0,1] member.left[0,1]``: a member's partitions, one topic a line."""
    if not member.assigned:
        return "none yet (rebalancing)"
    by_topic: dict[str, list[int]] = defaultdict(list)
    for tp in member.assigned:
        by_topic[tp.topic.removeprefix(f"{prefix}.")].append(tp.partition)
    return "\n".join(f"{t}[{','.join(map(str, ps))}]" for t, ps in by_topic.items())
