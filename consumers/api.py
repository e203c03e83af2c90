"""What a consumer group's author uses, and all of it: a group imports from this module only.

A group is a module (or folder) under ``consumers/groups/`` that exposes
``GROUP = ConsumerGroup(...)`` and is named in :mod:`consumers.registry`. The engine
(:mod:`consumers.engine`) does all Kafka and offset work; the group only says which events it
reads, which tables it owns, how one event maps to a row (pure, no I/O) and how a batch of rows
is applied (inside the engine's transaction).

Delivery guarantee (for every group): effects are applied exactly once. The engine applies a
batch and stores the next offsets in the same PostgreSQL transaction, and groups de-duplicate by
event identity under unique constraints, so DRIP retries and topic replays count once.

Rules for group code:
- ``rows_from`` is pure: it reads the event with the field readers below and returns a row, or
  raises :class:`UnusableEvent` (the engine writes a dead letter and moves on). It raises
  nothing else: any other exception is a bug and stops the process.
- ``apply`` runs set-based SQL on the connection it is given, inside the engine's transaction;
  it never commits, and it names its tables unqualified (the engine sets ``search_path``, which
  is how replay builds into shadow tables). Rows go to PostgreSQL as one JSON parameter
  (:func:`rows_param`, read back by :func:`select_rows`). It must be idempotent: after a crash,
  and under ``replay --since``, the same event may come again.
- ``plan`` (optional) is the pure half of ``apply``: the statements and parameters for a batch.
  The engine then computes them ahead, with the mapping, and ``apply`` runs them
  (:func:`run_plan`).
- A group touches only the tables it lists in ``tables``.
- ``trace`` says where an event's effects are, for ``drip-bridge trace EVENT_ID``: queries on
  the group's own tables, each taking the event id as its one parameter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import orjson
import psycopg

from consumers.fields import (
    count,
    event_data,
    event_time,
    instant,
    integer,
    not_ahead,
    obj,
    optional_text,
    text,
)
from core import contract
from core.contract import Envelope, EventType, realm_id_of
from core.errors import ConfigError, UnusableEvent
from core.settings import Settings

__all__ = [
    "ConfigError",
    "ConsumerGroup",
    "Event",
    "EventType",
    "Planned",
    "Settings",
    "Statement",
    "UnusableEvent",
    "count",
    "event_data",
    "event_time",
    "instant",
    "integer",
    "not_ahead",
    "obj",
    "optional_text",
    "realm_id_of",
    "rows_param",
    "run_plan",
    "select_rows",
    "text",
]

Row = TypeVar("Row")


class Event(NamedTuple):
    """A record decoded for a group: where it came from and the parsed JSON body.

    A named tuple, built once per event: see docs/performance.md ("Named tuples").
    """

    envelope: Envelope
    payload: dict[str, Any]

    @property
    def event_id(self) -> str:
        return self.envelope.event_id

    @property
    def event_type(self) -> str:
        return self.envelope.event_type


RowsFrom = Callable[[Event, Settings], Row]
Apply = Callable[[psycopg.AsyncConnection[Any], Sequence[Row], Settings], Awaitable[None]]
Statement = tuple[str, Sequence[Any]]
Plan = Callable[[Sequence[Row], Settings], list[Statement]]


class Planned(list[Row]):
    """A batch's rows together with the statements the group's ``plan`` made of them.

    The runtime builds one while the previous batch is being applied, so that building the
    statements (folding, serialising parameters) is not on the way between two batches.
    """

    __slots__ = ("statements",)

    def __init__(self, rows: Sequence[Row], statements: list[Statement]) -> None:
        super().__init__(rows)
        self.statements = statements


async def run_plan(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[Row], plan: Plan[Row], settings: Settings
) -> None:
    """Execute ``plan(rows, settings)`` in order, or the statements ``rows`` carries already."""
    statements = rows.statements if isinstance(rows, Planned) else plan(rows, settings)
    async with conn.cursor() as cur:
        for sql, params in statements:
            await cur.execute(sql, params)


@dataclass(frozen=True)
class ConsumerGroup(Generic[Row]):
    """One consumer group: its identity, inputs, owned tables, mapping and batch apply.

    Attributes:
        name: the registry name used on the command line (``leaderboard``); the Kafka
            consumer group id is this name under the deployment's prefix (:meth:`group_id`).
        event_types: the event types it reads; ``None`` means every topic, ``other`` included.
        tables: the tables (and views) it owns, in dependency order; replay rebuilds these.
        rows_from: pure mapping of one event to the value ``apply`` takes; raises
            ``UnusableEvent`` for an event the group cannot use.
        apply: applies a batch of mapped values, in offset order, on the given connection
            inside the runtime's transaction. Returning does not commit anything.
        plan: optional pure step of ``apply``: the statements it runs for a batch. When
            given, the runtime passes ``apply`` the rows as :class:`Planned`, carrying them.
        trace: SQL queries (``SELECT``, read only) that return the group's rows for one event,
            each taking the event id as its one parameter (``%s``): the rows keyed by the event,
            and those it went into (a balance, a streak, a daily sum) through a join on them.
            ``drip-bridge trace`` shows their results; none means the group keeps no per-event
            rows.
    """

    name: str
    event_types: tuple[str, ...] | None
    tables: tuple[str, ...]
    rows_from: RowsFrom[Row]
    apply: Apply[Row]
    plan: Plan[Row] | None = None
    trace: tuple[str, ...] = ()

    def group_id(self, settings: Settings) -> str:
        """The Kafka consumer group id: ``DRIP_GROUP_ID_PREFIX`` + name (``drip-leaderboard``).

        Also the key of the group's stored offsets, dead letters and lag rows.
        """
        return settings.group_id_prefix + self.name

    def topics(self, prefix: str) -> list[str]:
        """The topics this group subscribes to under ``prefix``."""
        return contract.topics(prefix, self.event_types)


# --- a batch of rows as one JSON parameter, which select_rows reads back -------------------


def rows_param(rows: Iterable[Sequence[object]]) -> str:
    """The parameter for :func:`select_rows`: a batch's rows as one JSON array of arrays.

    Values keep their types: strings, integers, None (null), and datetimes and dates as ISO 8601
    text that PostgreSQL casts back exactly. Datetimes should be UTC, as :mod:`consumers.fields`
    returns them (naive ones count as UTC); an offset with seconds would lose them.
    One document rather than an array per column: see docs/performance.md.
    """
    return orjson.dumps(list(rows), option=orjson.OPT_NAIVE_UTC).decode()


def select_rows(columns: str) -> str:
    """``SELECT`` of one row per element of a :func:`rows_param` parameter (``%s``).

    ``columns`` is ``"name type, name type, ..."`` in the order of each row's values; the result
    has those columns, named and typed so, in that order: a drop-in for ``SELECT * FROM
    unnest(...) AS e(...)``.
    """
    pairs = [column.split() for column in columns.split(",")]
    select = ", ".join(f"(r ->> {n})::{kind} AS {name}" for n, (name, kind) in enumerate(pairs))
    return f"SELECT {select} FROM jsonb_array_elements(%s::jsonb) AS r"
