"""One spool file: verified records kept durably on local disk, in arrival order.

Storage is SQLite (stdlib ``sqlite3``) in WAL mode with ``synchronous=FULL``: a commit returns
only after its WAL frames are fsync'd, a torn write from a crash is discarded by SQLite's
checksummed WAL on the next open, and removing the records Kafka acknowledged is one
``DELETE``. An append-only segment file would need its own framing, checksums, torn-tail
recovery and compaction of acknowledged records; SQLite already does each of these and is
tested far beyond what a hand-written format would be.

Every SQLite call runs on one dedicated thread per file, so the event loop never blocks on an
fsync and the connection is never used by two threads at once. Appends are committed in
groups: the appends that arrive within :data:`GROUP_COMMIT_WINDOW_S` of the first one (and
those that arrive while a commit is running) share one transaction and one fsync, and each
caller's await returns once its record is durable. :attr:`SpoolFile.commits` counts those
transactions.

Encoding (pure, below): headers are stored as a JSON list of ``[name, value]`` with each value
decoded as latin-1, which maps every byte to one code point and back, so any bytes round-trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import orjson

from bridge.ingest import Record
from core.errors import ServiceUnavailable

GROUP_COMMIT_WINDOW_S = 0.002
"""How long the first append of a group waits for others to share its transaction."""

WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
"""The WAL is truncated back to this size after a checkpoint, so it does not stay at its peak."""

_SCHEMA_VERSION = 1
_RECORD_COLUMNS = """
    topic       TEXT    NOT NULL,
    key         BLOB,
    value       BLOB    NOT NULL,
    headers     BLOB    NOT NULL,
    event_id    TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    received_at REAL    NOT NULL,
    size        INTEGER NOT NULL
"""
# ``refused`` keeps records Kafka refused for good, with the reason, for the operator to read;
# they no longer count against the bound and a file holding any is never deleted.
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, {_RECORD_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS refused (id INTEGER PRIMARY KEY, {_RECORD_COLUMNS},"
    " reason TEXT NOT NULL)",
)
_COLUMNS = "topic, key, value, headers, event_id, event_type, received_at, size"


class SpoolError(ServiceUnavailable):
    """The spool could not store or read records (disk full, unreadable file)."""


class SpooledRecord(NamedTuple):
    """A record read back from a spool file, with where it sits in it."""

    id: int
    record: Record
    received_at: float
    size: int
    source: Path
    """The spool file it was read from."""


class _Row(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes
    headers: bytes
    event_id: str
    event_type: str
    received_at: float
    size: int


_Stored = tuple[int, str, bytes | None, bytes, bytes, str, str, float, int]
"""A row as selected: id, then the columns of :class:`_Row`."""


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> bytes:
    """Headers as stored: a JSON list of ``[name, value as latin-1]``."""
    return orjson.dumps([[name, value.decode("latin-1")] for name, value in headers])


def decode_headers(stored: bytes) -> list[tuple[str, bytes]]:
    """The headers :func:`encode_headers` stored, byte for byte."""
    return [(name, value.encode("latin-1")) for name, value in orjson.loads(stored)]


def row_for(record: Record, received_at: float) -> _Row:
    """The row stored for ``record``; its size is what counts against the spool's bound."""
    headers = encode_headers(record.headers)
    size = (
        len(record.value)
        + len(record.key or b"")
        + len(headers)
        + len(record.topic)
        + len(record.event_id)
        + len(record.event_type)
    )
    return _Row(
        record.topic,
        record.key,
        record.value,
        headers,
        record.event_id,
        record.event_type,
        received_at,
        size,
    )


def record_size(record: Record) -> int:
    """The bytes ``record`` takes in a spool, as counted against its bound."""
    return row_for(record, 0.0).size


class SpoolFile:
    """One SQLite spool file; every method must be called from the one event loop using it.

    ``create=False`` opens only an existing file (one left by another process).
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        if create:
            # 0600 before SQLite first writes to it; SQLite gives its -wal and -shm files the
            # database file's mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        try:
            self._db = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=rw",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise SpoolError(
                f"cannot open the spool file {path} ({exc}); point DRIP_SPOOL_DIR at a "
                "writable directory"
            ) from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._check_version()
            depth, size = self._db.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM records"
            ).fetchone()
            (refused,) = self._db.execute("SELECT count(*) FROM refused").fetchone()
        except sqlite3.Error as exc:
            self._db.close()
            raise SpoolError(
                f"cannot read the spool file {path} ({exc}); move it aside and restart (its "
                "records are not sent until it is readable)"
            ) from exc
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._queue: list[tuple[_Row, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.depth: int = depth
        """Records stored (committed) in the file."""
        self.bytes: int = size
        """Their size, as counted against the bound."""
        self.pending_bytes = 0
        """Size of the records waiting for their group's commit."""
        self.oldest_received_at: float | None = self._oldest()
        self.commits = 0
        """Transactions that stored appended records (one per group)."""
        self.appended_total = 0
        self.drained_total = 0
        """Records removed after Kafka acknowledged them."""
        self.refused: int = refused
        """Records Kafka refused for good, kept in the ``refused`` table of the file."""

    def _check_version(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version == 0:
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        elif version != _SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"spool format {version}, this version reads only 1")

    @property
    def pending(self) -> int:
        """Appends waiting for their group's commit."""
        return len(self._queue)

    def append(self, record: Record, received_at: float | None = None) -> asyncio.Future[None]:
        """Queue ``record``; the future resolves once it is durable (SpoolError if it failed).

        Cancelling the future does not take the record back.
        """
        row = row_for(record, time.time() if received_at is None else received_at)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.append((row, done))
        self.pending_bytes += row.size
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return done

    async def flush(self) -> None:
        """Wait until every append queued so far was committed (or failed)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        await asyncio.sleep(GROUP_COMMIT_WINDOW_S)
        loop = asyncio.get_running_loop()
        while self._queue:
            group, self._queue = self._queue, []
            rows = [row for row, _ in group]
            group_bytes = sum(row.size for row in rows)
            try:
                await loop.run_in_executor(self._thread, self._insert, rows)
                error: SpoolError | None = None
            except sqlite3.Error as exc:
                error = SpoolError(
                    f"could not write to the spool file {self.path} ({exc}); free disk space "
                    "there or lower DRIP_SPOOL_MAX_BYTES"
                )
            self.pending_bytes -= group_bytes
            if error is None:
                self.commits += 1
                self.appended_total += len(rows)
                self.depth += len(rows)
                self.bytes += group_bytes
                if self.oldest_received_at is None:
                    self.oldest_received_at = rows[0].received_at
            for _, done in group:
                if done.done():
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    def _insert(self, rows: list[_Row]) -> None:
        with _transaction(self._db):
            self._db.executemany(
                f"INSERT INTO records ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
            )

    async def oldest(self, limit: int) -> list[SpooledRecord]:
        """Up to ``limit`` committed records, oldest first."""
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(self._thread, self._select, limit)
        except sqlite3.Error as exc:
            raise SpoolError(f"could not read the spool file {self.path} ({exc})") from exc
        return [
            SpooledRecord(
                row_id,
                Record(topic, key, value, decode_headers(headers), event_id, event_type),
                received_at,
                size,
                self.path,
            )
            for row_id, topic, key, value, headers, event_id, event_type, received_at, size in rows
        ]

    def _select(self, limit: int) -> list[_Stored]:
        return self._db.execute(
            f"SELECT id, {_COLUMNS} FROM records ORDER BY id LIMIT ?", (limit,)
        ).fetchall()

    async def remove(self, records: Sequence[SpooledRecord], *, refused: str = "") -> None:
        """Delete ``records`` in one transaction: acknowledged by Kafka, or, with a
        ``refused`` reason, refused by it for good (they move to the ``refused`` table)."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        ids = [(spooled.id,) for spooled in records]
        try:
            removed, oldest = await loop.run_in_executor(self._thread, self._delete, ids, refused)
        except sqlite3.Error as exc:
            raise SpoolError(f"could not delete from the spool file {self.path} ({exc})") from exc
        self.depth -= removed
        self.bytes -= sum(spooled.size for spooled in records)
        if refused:
            self.refused += removed
        else:
            self.drained_total += removed
        self.oldest_received_at = oldest

    def _delete(self, ids: list[tuple[int]], refused: str) -> tuple[int, float | None]:
        with _transaction(self._db):
            if refused:
                self._db.executemany(
                    f"INSERT INTO refused ({_COLUMNS}, reason) "
                    f"SELECT {_COLUMNS}, ? FROM records WHERE id = ?",
                    [(refused, row_id) for (row_id,) in ids],
                )
            before = self._db.total_changes
            self._db.executemany("DELETE FROM records WHERE id = ?", ids)
            removed = self._db.total_changes - before
        return removed, self._oldest()

    def _oldest(self) -> float | None:
        row = self._db.execute("SELECT received_at FROM records ORDER BY id LIMIT 1").fetchone()
        return None if row is None else float(row[0])

    async def close(self) -> None:
        """Commit what is queued, then close the file (SQLite checkpoints its WAL)."""
        await self.flush()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._db.close)
        self._thread.shutdown(wait=True)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
