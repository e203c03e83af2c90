"""The one PostgreSQL connection of a group's runtime, and the backoff between retries.

A runtime applies one batch at a time, so one connection serves it. It is opened when first
needed and dropped after any error in :data:`TRANSIENT`: the next use opens a fresh one, so a
restarted database or a killed backend costs a retry, never the process. A connection refused
for a reason no retry cures (a wrong password, a missing database) is a ConfigError instead:
the runtime then stops, leaving its Kafka group rather than holding partitions it cannot apply.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg

from consumers.engine import faults
from core.db import connect
from core.settings import Settings

# Kept importable from here for the modules that catch it alongside the connection.
TRANSIENT = faults.TRANSIENT


class GroupConnection:
    """A lazily opened autocommit connection, named after the group in ``pg_stat_activity``."""

    def __init__(self, settings: Settings, group_name: str) -> None:
        self._settings = settings
        self._name = group_name
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def get(self) -> psycopg.AsyncConnection[Any]:
        """The open connection, opening a new one if there is none (or it was closed)."""
        if self._conn is None or self._conn.closed:
            self._conn = await connect(self._settings, f"drip-bridge {self._name}")
        return self._conn

    async def drop(self) -> None:
        """Close the connection, quietly: it is dropped because something already failed."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


class Backoff:
    """Exponential delays between retries, capped; reset after a success."""

    def __init__(self, first_s: float = 0.2, cap_s: float = 30.0) -> None:
        self.first_s, self.cap_s = first_s, cap_s
        self._next_s = first_s

    def next(self) -> float:
        delay, self._next_s = self._next_s, min(self._next_s * 2, self.cap_s)
        return delay

    def reset(self) -> None:
        self._next_s = self.first_s
