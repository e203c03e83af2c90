"""Databases of their own for tests: created empty, dropped (with any session left) after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from core.settings import Settings


@contextmanager
def scratch_database(base: Settings, prefix: str) -> Iterator[Settings]:
    """``base`` pointed at a new empty database named ``<prefix>_<random>``; no migration."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base.libpq_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    head, _, _ = base.sync_database_url.rpartition("/")
    try:
        yield base.model_copy(update={"database_url": f"{head}/{name}"})
    finally:
        with psycopg.connect(base.libpq_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
