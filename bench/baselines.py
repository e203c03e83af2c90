"""The raw baselines of the consumer benchmark: the same rows written without the runtime.

Both take the rows the group's mapping produced, already in memory, and write them in batches
of the runtime's size, one transaction per batch, with no Kafka:

- :func:`time_baseline` into tables without keys or indexes, one plain multi-row INSERT per row
  type per batch: a floor no product table can reach;
- :func:`time_same_schema` into empty copies of the group's own tables (``LIKE ... INCLUDING
  ALL``), one statement per table per batch, upserting where the group upserts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql

from bench.table_rows import PLANS, TableRows

_SQL_TYPES = {bool: "boolean", int: "bigint", float: "double precision", str: "text"}


def _sql_type(values: Sequence[Any]) -> str:
    sample = next((v for v in values if v is not None), "")
    if isinstance(sample, datetime):
        return "timestamptz"
    if isinstance(sample, date):
        return "date"
    return _SQL_TYPES.get(type(sample), "text")


async def time_baseline(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[Any], batch_size: int
) -> float:
    """Seconds to write ``rows`` with one INSERT ... SELECT unnest per row type per batch."""
    by_type: dict[type, list[str]] = {}
    for row in rows:
        if type(row) not in by_type:
            by_type[type(row)] = [f.name for f in dataclasses.fields(row)]
    statements: dict[type, tuple[sql.Composed, list[str]]] = {}
    for n, (cls, names) in enumerate(by_type.items()):
        sample = [r for r in rows[:5000] if type(r) is cls]
        types = [_sql_type([getattr(r, name) for r in sample]) for name in names]
        table = sql.Identifier(f"bench_raw_{n}")
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
            for c, t in zip(names, types, strict=True)
        )
        await conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
        casts = sql.SQL(", ").join(sql.SQL("%b::" + t + "[]") for t in types)
        insert = sql.SQL("INSERT INTO {} SELECT * FROM unnest({})").format(table, casts)
        statements[cls] = (insert, names)
    started = time.perf_counter()
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        async with conn.transaction():
            for cls, (insert, names) in statements.items():
                mine = [r for r in chunk if type(r) is cls]
                if mine:
                    await conn.execute(insert, [[getattr(r, c) for r in mine] for c in names])
    return time.perf_counter() - started


async def time_same_schema(
    conn: psycopg.AsyncConnection[Any], name: str, rows: Sequence[Any], batch_size: int
) -> float:
    """Seconds to store each batch's table rows in empty same-schema copies of the tables."""
    batches = [PLANS[name](rows[s : s + batch_size]) for s in range(0, len(rows), batch_size)]
    await conn.execute("CREATE SCHEMA bench_same")
    statements: dict[str, sql.Composed] = {}
    for plan in batches[0]:
        statements[plan.table] = await _same_schema_insert(conn, plan)
    started = time.perf_counter()
    for batch in batches:
        async with conn.transaction():
            for plan in batch:
                if plan.rows:
                    params = [list(column) for column in zip(*plan.rows, strict=True)]
                    await conn.execute(statements[plan.table], params)
    return time.perf_counter() - started


async def _same_schema_insert(conn: psycopg.AsyncConnection[Any], plan: TableRows) -> sql.Composed:
    table = sql.Identifier("bench_same", plan.table)
    await conn.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
            table, sql.Identifier("public", plan.table)
        )
    )
    cur = await conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [f"public.{plan.table}"],
    )
    types = dict(await cur.fetchall())
    insert = sql.SQL("INSERT INTO {} ({}) SELECT * FROM unnest({})").format(
        table,
        sql.SQL(", ").join(map(sql.Identifier, plan.columns)),
        sql.SQL(", ").join(sql.SQL("%b::" + types[c] + "[]") for c in plan.columns),
    )
    if plan.key is None:
        return insert
    rest = [c for c in plan.columns if c not in plan.key]
    keys = sql.SQL(", ").join(map(sql.Identifier, plan.key))
    if not rest:
        return sql.SQL("{} ON CONFLICT ({}) DO NOTHING").format(insert, keys)
    sets = sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in rest)
    return sql.SQL("{} ON CONFLICT ({}) DO UPDATE SET {}").format(insert, keys, sets)
