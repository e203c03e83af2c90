"""The contract every consumer group fulfils.

A group is one module under ``consumers/groups/`` that exposes ``GROUP = ConsumerGroup(...)``
and is named in :mod:`consumers.registry`. The shared runtime does all Kafka and offset work;
the group only says which events it reads, which tables it owns, how one event maps to rows
(pure, no I/O) and how a batch of rows is applied (inside the runtime's transaction).

Delivery guarantee (for every group): effects are applied exactly once. The runtime applies a
batch and stores the next offsets in the same PostgreSQL transaction, and groups de-duplicate by
event identity under unique constraints, so DRIP retries and topic replays count once.

Rules for group code:
- ``rows_from`` is pure: it reads the event and returns a value, or raises
  :class:`dripbridge.errors.UnusableEvent` (the runtime writes a dead letter and moves on).
- ``apply`` runs set-based SQL (multi-row upserts, ``unnest``) on the connection it is given,
  inside the transaction the runtime opened; it never commits, and it names its tables
  unqualified (the runtime sets ``search_path``, which is how replay builds into shadow tables).
  It waits for no result it does not need: the runtime sends its statements in a pipeline and
  maps the next batch while PostgreSQL runs them.
- ``plan`` (optional) is the pure half of ``apply``: the statements and parameters for a batch.
  The runtime then computes them ahead, with the mapping, and ``apply`` runs them
  (:func:`run_plan`).
- A group touches only the tables it lists in ``tables``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import psycopg

from dripbridge import contract
from dripbridge.contract import Envelope
from dripbridge.settings import Settings

Row = TypeVar("Row")


class Event(NamedTuple):
    """A record decoded for a group: where it came from and the parsed JSON body.

    A named tuple, like its envelope: one is built for every record, and a frozen dataclass
    costs several times more to build.
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
    """

    name: str
    event_types: tuple[str, ...] | None
    tables: tuple[str, ...]
    rows_from: RowsFrom[Row]
    apply: Apply[Row]
    plan: Plan[Row] | None = None

    def group_id(self, settings: Settings) -> str:
        """The Kafka consumer group id: ``DRIP_GROUP_ID_PREFIX`` + name (``drip-leaderboard``).

        Also the key of the group's stored offsets, dead letters and lag rows.
        """
        return settings.group_id_prefix + self.name

    def topics(self, prefix: str) -> list[str]:
        """The topics this group subscribes to under ``prefix``."""
        return contract.topics(prefix, self.event_types)
