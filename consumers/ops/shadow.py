"""Shadow tables: a group's tables rebuilt beside the live ones, then swapped in at once.

The shadow schema ``replay_<group>`` holds a copy (``LIKE ... INCLUDING ALL``: columns,
defaults, generated columns, constraints, indexes) of every owned table, plus empty copies of
``consumer_offsets`` and ``dead_letters``, so a build moves no live offset and writes no live
dead letter. It is dropped and recreated when a replay starts: a replay that crashed leaves
only a stale shadow schema, which the next one drops. Views stay in ``public`` and keep
reading the live tables throughout.

The swap is one transaction, which holds the group's live writers while it brings the shadow
up to where they stand (:func:`swap`). Readers keep seeing the old rows until it commits (MVCC;
the ``EXCLUSIVE`` table locks block writers only), then see the rebuilt ones; never a mix.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import psycopg
from aiokafka.structs import TopicPartition
from psycopg import sql

from consumers.api import ConsumerGroup
from core.errors import ConfigError

LIVE = "public"
RUNTIME_TABLES = ("consumer_offsets", "dead_letters")
_TABLE_KINDS = ("r", "p")  # ordinary and partitioned tables; views are left alone

Range = tuple[int, int]
"""(first offset read, end offset reached) of one partition."""


def schema_for(group: ConsumerGroup[Any]) -> str:
    """The shadow schema of ``group``."""
    return f"replay_{group.name}"


async def owned_tables(conn: psycopg.AsyncConnection[Any], group: ConsumerGroup[Any]) -> list[str]:
    """The group's tables that hold rows (views left out), in the group's dependency order."""
    cur = await conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s)",
        [LIVE, list(group.tables)],
    )
    kinds = {name: kind for name, kind in await cur.fetchall()}
    missing = [t for t in group.tables if t not in kinds]
    if missing:
        raise ConfigError(
            f"group {group.name}: table(s) {', '.join(missing)} do not exist; "
            "apply the migrations first (drip-bridge migrate)"
        )
    return [t for t in group.tables if kinds[t] in _TABLE_KINDS]


async def create(conn: psycopg.AsyncConnection[Any], schema: str, tables: Sequence[str]) -> None:
    """(Re)create ``schema`` with empty copies of ``tables`` and of the runtime tables."""
    async with conn.transaction():
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(_id(schema)))
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(_id(schema)))
        for table in [*tables, *RUNTIME_TABLES]:
            await conn.execute(
                sql.SQL("CREATE TABLE {}.{} (LIKE {}.{} INCLUDING ALL)").format(
                    _id(schema), _id(table), _id(LIVE), _id(table)
                )
            )


async def drop(conn: psycopg.AsyncConnection[Any], schema: str) -> None:
    """Drop ``schema`` and everything in it, if it exists."""
    await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(_id(schema)))


CatchUp = Callable[[Mapping[TopicPartition, int]], Awaitable[Mapping[TopicPartition, Range]]]
"""Given the live stored offsets (locked), brings the shadow up to them; returns its ranges."""


async def swap(
    conn: psycopg.AsyncConnection[Any],
    group_id: str,
    schema: str,
    tables: Sequence[str],
    topics: Sequence[str],
    catch_up: CatchUp,
) -> float:
    """Replace the live tables, dead letters and offsets with the shadow's, then drop it.

    One transaction. It first locks the group's rows in ``consumer_offsets``: a live batch
    moves those first (a compare-and-set UPDATE), so from then on the live processes wait and
    the stored offsets stand still. ``catch_up`` then applies the records between the build's
    offsets and those stored offsets to the shadow, inside this transaction, and returns the
    range built per partition; the tables, dead letters and offsets are swapped to it. The
    swap thus takes back nothing a reader saw, and the offsets it stores are where the live
    tables now stand: a live batch waiting on the lock expected exactly those offsets if the
    live process was not behind the build, and is then applied on top of the swapped tables
    when the lock goes; if it was behind, its compare-and-set finds the offsets moved and it
    is refused and read again from them. Locks are taken in the order a live batch takes
    them (offset rows, then tables), so the two never deadlock.

    Returns the seconds the offset rows were held, from the lock to the commit.
    """
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT topic, partition, next_offset FROM public.consumer_offsets"
            " WHERE group_id = %s AND topic = ANY(%s) ORDER BY topic, partition FOR UPDATE",
            [group_id, sorted(topics)],
        )
        locked = time.perf_counter()
        stored = {TopicPartition(t, p): o for t, p, o in await cur.fetchall()}
        ranges = await catch_up(stored)
        await replace_tables(conn, schema, tables)
        tps = sorted(ranges)
        await _dead_letters(conn, group_id, schema, tps, ranges)
        await conn.execute(
            _STORE_OFFSETS,
            [
                group_id,
                [tp.topic for tp in tps],
                [tp.partition for tp in tps],
                [ranges[tp][1] for tp in tps],
            ],
        )
        await drop(conn, schema)
    return time.perf_counter() - locked


async def replace_tables(
    conn: psycopg.AsyncConnection[Any], schema: str, tables: Sequence[str]
) -> None:
    """Inside the swap's transaction: the live tables' rows become the shadow's.

    ``EXCLUSIVE`` blocks writers only: readers keep seeing the old rows until the commit.
    """
    if tables:
        live = sql.SQL(", ").join(_live(t) for t in tables)
        await conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(live))
    for table in reversed(tables):
        await conn.execute(sql.SQL("DELETE FROM {}").format(_live(table)))
    for table in tables:
        await _copy(conn, schema, table)


def _id(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _live(table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(_id(LIVE), _id(table))


_COLUMNS = """
SELECT a.attname, a.attgenerated <> '', pg_get_serial_sequence(%(table)s, a.attname)
FROM pg_attribute a
WHERE a.attrelid = %(table)s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

# Only ever forward: setval is not undone by a rollback, and values already handed out must
# not be handed out again.
_ADVANCE_SEQUENCE = """
SELECT setval(%(seq)s::regclass, %(top)s)
WHERE %(top)s > coalesce(pg_sequence_last_value(%(seq)s::regclass), 0)
"""


async def _copy(conn: psycopg.AsyncConnection[Any], schema: str, table: str) -> None:
    """Copy the shadow rows in; generated columns recompute, identity and serial values stay."""
    qualified = f"{_quote(LIVE)}.{_quote(table)}"
    cur = await conn.execute(_COLUMNS, {"table": qualified})
    columns = await cur.fetchall()
    names = sql.SQL(", ").join(_id(name) for name, generated, _ in columns if not generated)
    await conn.execute(
        sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}.{}").format(
            _live(table), names, names, _id(schema), _id(table)
        )
    )
    for name, _, sequence in columns:
        if sequence is None:
            continue
        cur = await conn.execute(sql.SQL("SELECT max({}) FROM {}").format(_id(name), _live(table)))
        row = await cur.fetchone()
        if row is not None and row[0] is not None:
            await conn.execute(_ADVANCE_SEQUENCE, {"seq": sequence, "top": row[0]})


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# The group's dead letters in the replayed ranges become the build's: letters for records the
# group can now use go away, letters still dead keep their first id and time.
_DROP_CURED = """
DELETE FROM public.dead_letters d
USING unnest(%s::text[], %s::int[], %s::bigint[], %s::bigint[]) AS r(topic, partition, first, stop)
WHERE d.group_id = %s AND d.topic = r.topic AND d.partition = r.partition
  AND d."offset" >= r.first AND d."offset" < r.stop
  AND NOT EXISTS (SELECT 1 FROM {}.dead_letters s WHERE s.group_id = d.group_id
                  AND s.topic = d.topic AND s.partition = d.partition AND s."offset" = d."offset")
"""

_ADD_DEAD = """
INSERT INTO public.dead_letters (group_id, topic, partition, "offset", event_id, event_type,
                                 error, payload, created_at)
SELECT group_id, topic, partition, "offset", event_id, event_type, error, payload, created_at
FROM {}.dead_letters WHERE group_id = %s
ON CONFLICT (group_id, topic, partition, "offset") DO UPDATE SET error = excluded.error
"""

_STORE_OFFSETS = """
INSERT INTO public.consumer_offsets (group_id, topic, partition, next_offset)
SELECT %s, * FROM unnest(%s::text[], %s::int[], %s::bigint[])
ON CONFLICT (group_id, topic, partition) DO UPDATE
    SET next_offset = excluded.next_offset, updated_at = now()
"""


async def _dead_letters(
    conn: psycopg.AsyncConnection[Any],
    group_id: str,
    schema: str,
    tps: Sequence[TopicPartition],
    ranges: Mapping[TopicPartition, Range],
) -> None:
    bounds = [
        [tp.topic for tp in tps],
        [tp.partition for tp in tps],
        [ranges[tp][0] for tp in tps],
        [ranges[tp][1] for tp in tps],
    ]
    await conn.execute(sql.SQL(_DROP_CURED).format(_id(schema)), [*bounds, group_id])
    await conn.execute(sql.SQL(_ADD_DEAD).format(_id(schema)), [group_id])
