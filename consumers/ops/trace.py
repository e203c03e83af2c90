"""Follow one event: where it sits in Kafka, which groups applied it, what each made of it.

The event is found through the archive (``events``: the topic, partition and offset of the
first record of each event id), not by scanning topics, which would read every record. When
the archive group does not run or has not reached the event yet, its dead letters are the
fallback: a dead letter keeps the record's place too. Each group that reads the event's topic
has applied the record once its stored next offset (``consumer_offsets``, committed with the
effects) is past the record's offset; its own ``trace`` queries then show its rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import psycopg.errors
from psycopg.rows import dict_row

from consumers.api import ConsumerGroup
from core.errors import ConfigError, DripBridgeError, ServiceUnavailable
from core.settings import Settings

ARCHIVE_GROUP = "archive"


class EventNotFound(DripBridgeError):
    """No record of the event in the archive nor in any group's dead letters."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a record sits in Kafka, and which table told us."""

    topic: str
    partition: int
    offset: int
    found_in: str
    """``events`` (the archive) or ``dead_letters`` (the fallback)."""


@dataclass(frozen=True, slots=True)
class GroupTrace:
    """One group that reads the event's topic: whether it applied the record, and its rows."""

    name: str
    group_id: str
    next_offset: int | None
    """The group's stored next offset in the record's partition; None if it never read it."""
    applied: bool
    dead_letter: bool
    """The group could not use the event: applying it wrote a dead letter."""
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Table (the first one a trace query reads) -> the rows that query returned."""

    @property
    def state(self) -> str:
        if not self.applied:
            return "not yet applied"
        return "dead letter" if self.dead_letter else "applied"


@dataclass(frozen=True, slots=True)
class EventTrace:
    """Everything known about one event id."""

    event_id: str
    place: Place
    groups: tuple[GroupTrace, ...]
    dead_letters: tuple[dict[str, Any], ...]
    note: str | None = None
    """Why the place came from the dead letters, when it did."""

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json`` (row values as PostgreSQL returned them)."""
        return {
            "event_id": self.event_id,
            "topic": self.place.topic,
            "partition": self.place.partition,
            "offset": self.place.offset,
            "found_in": self.place.found_in,
            "note": self.note,
            "groups": [
                {
                    "name": g.name,
                    "group_id": g.group_id,
                    "next_offset": g.next_offset,
                    "applied": g.applied,
                    "dead_letter": g.dead_letter,
                    "state": g.state,
                    "rows": g.rows,
                }
                for g in self.groups
            ],
            "dead_letters": list(self.dead_letters),
        }


def applied(next_offset: int | None, offset: int) -> bool:
    """Whether a group whose stored next offset is ``next_offset`` has applied ``offset``."""
    return next_offset is not None and next_offset > offset


def table_of(query: str, index: int) -> str:
    """The first table a trace query reads (``FROM x``), or ``query N`` when none is found."""
    found = re.search(r"\bFROM\s+([A-Za-z_][\w.]*)", query, flags=re.IGNORECASE)
    return found.group(1) if found else f"query {index + 1}"


def readers(
    groups: Sequence[ConsumerGroup[Any]], topic: str, prefix: str
) -> list[ConsumerGroup[Any]]:
    """The groups that subscribe to ``topic`` under ``prefix``, in registry order."""
    return [g for g in groups if topic in g.topics(prefix)]


_ARCHIVED = 'SELECT topic, "partition", "offset" FROM events WHERE event_id = %s'
_DEAD_LETTERS = """
SELECT group_id, topic, "partition", "offset", event_type, error, created_at
FROM dead_letters WHERE event_id = %s ORDER BY created_at, id
"""
_STORED = """
SELECT next_offset FROM consumer_offsets WHERE group_id = %s AND topic = %s AND partition = %s
"""


async def trace_event(
    settings: Settings, groups: Sequence[ConsumerGroup[Any]], event_id: str
) -> EventTrace:
    """Trace ``event_id`` through ``groups``; :class:`EventNotFound` when nothing knows it."""
    try:
        async with await psycopg.AsyncConnection.connect(
            settings.libpq_url, autocommit=True, row_factory=dict_row
        ) as conn:
            return await _trace(conn, settings, groups, event_id)
    except psycopg.errors.UndefinedTable as exc:
        raise ConfigError(
            f"a table is missing ({exc.diag.message_primary}); apply the migrations "
            "(drip-bridge migrate)"
        ) from exc
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(f"PostgreSQL did not answer ({exc}); is it running?") from exc


async def _trace(
    conn: psycopg.AsyncConnection[dict[str, Any]],
    settings: Settings,
    groups: Sequence[ConsumerGroup[Any]],
    event_id: str,
) -> EventTrace:
    letters = await _all(conn, _DEAD_LETTERS, event_id)
    archived = await _all(conn, _ARCHIVED, event_id)
    note = None
    if archived:
        row = archived[0]
        place = Place(row["topic"], row["partition"], row["offset"], "events")
    elif letters:
        row = letters[0]
        place = Place(row["topic"], row["partition"], row["offset"], "dead_letters")
        note = (
            "not in the archive (events): the archive group is not running or has not reached "
            "it yet (drip-bridge consumers); its place comes from a dead letter"
        )
    else:
        raise EventNotFound(
            f"no event {event_id!r} in the archive (events) nor in dead_letters: check the id; "
            "if the archive group is not running or behind (drip-bridge consumers), start it "
            "and try again"
        )
    dead_groups = {
        d["group_id"]
        for d in letters
        if (d["topic"], d["partition"], d["offset"]) == (place.topic, place.partition, place.offset)
    }
    traces = []
    for group in readers(groups, place.topic, settings.topic_prefix):
        group_id = group.group_id(settings)
        stored = await _all(conn, _STORED, group_id, place.topic, place.partition)
        next_offset = stored[0]["next_offset"] if stored else None
        rows = {
            table_of(query, n): await _all(conn, query, event_id)
            for n, query in enumerate(group.trace)
        }
        traces.append(
            GroupTrace(
                name=group.name,
                group_id=group_id,
                next_offset=next_offset,
                applied=applied(next_offset, place.offset),
                dead_letter=group_id in dead_groups,
                rows=rows,
            )
        )
    return EventTrace(event_id, place, tuple(traces), tuple(letters), note)


async def _all(
    conn: psycopg.AsyncConnection[dict[str, Any]], query: str, *params: object
) -> list[dict[str, Any]]:
    cur = await conn.execute(query, list(params))
    return await cur.fetchall()
