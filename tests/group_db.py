"""A connection to the test database with a group's tables emptied first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql

from consumers.api import ConsumerGroup
from core.settings import Settings

Conn = psycopg.AsyncConnection[Any]


@asynccontextmanager
async def emptied(settings: Settings, group: ConsumerGroup[Any]) -> AsyncIterator[Conn]:
    """An autocommit connection to the settings' database; ``group``'s tables start empty.

    Tests of one session share a database, so each test empties the tables it asserts on;
    views among ``group.tables`` (they hold no rows) are left as they are.
    """
    async with await psycopg.AsyncConnection.connect(settings.libpq_url, autocommit=True) as conn:
        found = await conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
            [list(group.tables)],
        )
        tables = [row[0] for row in await found.fetchall()]
        await conn.execute(
            sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, tables)))
        )
        yield conn
