"""The receiver's spool: a directory of spool files, one per receiver process, and a bound.

Each receiver process appends to a file of its own, ``receiver-<pid>.sqlite3``, and holds an
exclusive ``fcntl.flock`` on its companion ``.lock`` file for as long as it owns it. A file
whose lock anyone can take belongs to a process that died (``kill -9``, a crash, a host
restart): a starting process claims such files (:meth:`Spool.claim_orphans`), drains them
first and deletes them once empty. The lock sits on a separate file because SQLite's own
POSIX locks on the database file are dropped when any descriptor of that file is closed in
the process; ``flock`` on another file cannot interfere with them.

The bound, ``DRIP_SPOOL_MAX_BYTES``, counts the record bytes (value, key, headers, topic and
ids) of every file this process owns, including claimed ones; an append past it raises
:class:`SpoolFull` at once, and the receiver answers 503 with ``Retry-After``. SQLite's pages
and WAL add some overhead on disk beyond that figure (the WAL is truncated back to
:data:`bridge.spool_file.WAL_SIZE_LIMIT_BYTES` after checkpoints).

Files, their WAL and the lock files are created 0600 in a 0700 directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from pathlib import Path

from bridge.ingest import Record
from bridge.spool_file import SpooledRecord, SpoolError, SpoolFile, record_size
from core.settings import Settings

__all__ = ["Spool", "SpoolError", "SpoolFull", "SpooledRecord"]

log = logging.getLogger(__name__)

_SUFFIX = ".sqlite3"
_COMPANIONS = ("-wal", "-shm")
_MAX_NAME_TRIES = 100


class SpoolFull(SpoolError):
    """The spool holds ``DRIP_SPOOL_MAX_BYTES`` already; the sender must retry later."""


class _Owned:
    """A spool file with the lock that makes it this process's."""

    def __init__(self, file: SpoolFile, lock_fd: int, lock_path: Path) -> None:
        self.file = file
        self.lock_fd = lock_fd
        self.lock_path = lock_path

    async def release(self, *, delete: bool) -> None:
        await self.file.close()
        if delete:
            for path in _files_of(self.file.path):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()
        os.close(self.lock_fd)  # closing releases the flock


class Spool:
    """The spool files this process owns: its own, which takes appends, and claimed ones.

    Records are read back oldest file first (claimed files are older than this process), in
    arrival order within a file. Every method must be called from one event loop.
    """

    def __init__(self, directory: Path, own: _Owned, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.largest_record = 0
        """The largest record an append may bring (for :attr:`full`); 0 until set."""
        self._own = own
        self._claimed: list[_Owned] = []
        self._drained_released = 0
        self._refused_released = 0

    @classmethod
    async def open(cls, directory: Path, max_bytes: int) -> Spool:
        """Create (or reuse) this process's file in ``directory``, then claim orphaned files."""
        try:
            own = await asyncio.to_thread(_own_file, directory)
        except OSError as exc:
            raise SpoolError(
                f"cannot use the spool directory {directory} ({exc}); set DRIP_SPOOL_DIR "
                "to a writable directory"
            ) from exc
        spool = cls(directory, own, max_bytes)
        await spool.claim_orphans()
        return spool

    @classmethod
    async def from_settings(cls, settings: Settings) -> Spool | None:
        """The spool ``settings`` ask for, or None when it is turned off."""
        if not settings.spool_active:
            return None
        spool = await cls.open(settings.spool_directory, settings.spool_max_bytes)
        spool.largest_record = settings.max_record_bytes
        return spool

    @property
    def path(self) -> Path:
        """This process's own spool file."""
        return self._own.file.path

    def _files(self) -> list[SpoolFile]:
        return [owned.file for owned in self._claimed] + [self._own.file]

    # --- metrics ----------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Records stored, in every file this process owns."""
        return sum(file.depth for file in self._files())

    @property
    def bytes(self) -> int:
        """Record bytes stored, as counted against ``max_bytes``."""
        return sum(file.bytes for file in self._files())

    @property
    def full(self) -> bool:
        """True when the largest record the receiver takes might not fit any more."""
        return self.bytes + self._own.file.pending_bytes + self.largest_record > self.max_bytes

    @property
    def pending(self) -> int:
        """Appends waiting for their group's commit."""
        return self._own.file.pending

    @property
    def empty(self) -> bool:
        """Nothing stored and nothing waiting to be stored."""
        return self.depth == 0 and self.pending == 0

    @property
    def oldest_received_at(self) -> float | None:
        """Receive time (epoch seconds) of the oldest stored record."""
        times = [f.oldest_received_at for f in self._files() if f.oldest_received_at is not None]
        return min(times) if times else None

    @property
    def oldest_age_s(self) -> float:
        """Seconds the oldest stored record has waited; 0 when the spool is empty."""
        oldest = self.oldest_received_at
        return 0.0 if oldest is None else max(0.0, time.time() - oldest)

    @property
    def drained_total(self) -> int:
        """Records sent to Kafka from the spool and removed, since this process started."""
        return self._drained_released + sum(file.drained_total for file in self._files())

    @property
    def refused(self) -> int:
        """Records Kafka refused for good, kept in the ``refused`` tables of the files."""
        return self._refused_released + sum(file.refused for file in self._files())

    @property
    def commits(self) -> int:
        """Transactions that stored appends (fewer than appends when groups formed)."""
        return self._own.file.commits

    # --- records ----------------------------------------------------------------------------
    async def append(self, record: Record, received_at: float | None = None) -> None:
        """Store ``record``; returns once it is on disk (fsync'd).

        Raises SpoolFull, without storing, when it would take the spool past ``max_bytes``,
        and SpoolError when the disk refuses it.
        """
        size = record_size(record)
        own = self._own.file
        if self.bytes + own.pending_bytes + size > self.max_bytes:
            raise SpoolFull(
                f"the spool in {self.directory} holds {self.bytes} of {self.max_bytes} bytes "
                "(DRIP_SPOOL_MAX_BYTES) while Kafka is away; bring Kafka back, or raise "
                "DRIP_SPOOL_MAX_BYTES if the disk has room"
            )
        await own.append(record, received_at)

    async def flush(self) -> None:
        """Wait until every append made so far was committed (or failed)."""
        await self._own.file.flush()

    async def oldest(self, limit: int) -> list[SpooledRecord]:
        """Up to ``limit`` stored records, oldest first, all from one file.

        Pass them back to :meth:`remove` once Kafka acknowledged them.
        """
        for owned in list(self._claimed):
            if owned.file.depth:
                return await owned.file.oldest(limit)
            await self._let_go(owned)
        return await self._own.file.oldest(limit)

    async def remove(self, records: list[SpooledRecord], *, refused: str = "") -> None:
        """Delete ``records``, which one call of :meth:`oldest` returned, from their file.

        With a ``refused`` reason they are kept aside in the file's ``refused`` table
        instead (Kafka refused them for good), and the file is not deleted.
        """
        if not records:
            return
        for owned in [*self._claimed, self._own]:
            if owned.file.path == records[0].source:
                await owned.file.remove(records, refused=refused)
                if owned is not self._own and owned.file.depth == 0:
                    await self._let_go(owned)
                return
        raise SpoolError(f"{records[0].source} is not a spool file this process owns")

    async def _let_go(self, owned: _Owned) -> None:
        self._claimed.remove(owned)
        self._drained_released += owned.file.drained_total
        self._refused_released += owned.file.refused
        await owned.release(delete=_deletable(owned.file))

    # --- files ------------------------------------------------------------------------------
    async def claim_orphans(self) -> int:
        """Claim the spool files in the directory that no live process holds; how many.

        Empty ones are deleted at once; the others are drained before this process's own.
        """
        claimed = 0
        owned = {owned.file.path for owned in self._claimed} | {self._own.file.path}
        for path in await asyncio.to_thread(_spool_files, self.directory):
            if path in owned:
                continue
            try:
                taken = await asyncio.to_thread(_take, path, create=False)
            except (OSError, SpoolError) as exc:
                log.error("cannot claim the spool file %s: %s", path, exc)
                continue
            if taken is None:
                continue
            if taken.file.depth == 0:
                await taken.release(delete=_deletable(taken.file))
                continue
            log.warning(
                "claimed the spool file %s (%d records) of a process that ended",
                path,
                taken.file.depth,
            )
            self._claimed.append(taken)
            claimed += 1
        return claimed

    async def close(self) -> None:
        """Commit queued appends and close every file; an empty own file is deleted."""
        for owned in list(self._claimed):
            await owned.release(delete=False)
        self._claimed.clear()
        await self._own.file.flush()
        await self._own.release(delete=_deletable(self._own.file))


def _own_file(directory: Path) -> _Owned:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    pid = os.getpid()
    for attempt in range(_MAX_NAME_TRIES):
        name = f"receiver-{pid}" if attempt == 0 else f"receiver-{pid}-{attempt}"
        taken = _take(directory / f"{name}{_SUFFIX}", create=True)
        if taken is not None:
            return taken
    raise SpoolError(
        f"every spool file name for process {pid} in {directory} is locked by another "
        "process; give each receiver host its own DRIP_SPOOL_DIR"
    )


def _take(path: Path, *, create: bool) -> _Owned | None:
    """Lock ``path``'s lock file and open it, or None when another process holds it."""
    lock_path = path.with_suffix(".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    try:
        # The previous holder may have deleted the files before unlocking: the lock is ours
        # only if it is still the file at that path, and the spool file still exists.
        if os.fstat(fd).st_ino != os.stat(lock_path).st_ino:
            raise FileNotFoundError(lock_path)
        if not create and not path.exists():
            lock_path.unlink()  # made by the open above, after the files were deleted
            raise FileNotFoundError(path)
        file = SpoolFile(path, create=create)
    except FileNotFoundError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return _Owned(file, fd, lock_path)


def _deletable(file: SpoolFile) -> bool:
    """A drained file is deleted, unless it keeps records Kafka refused."""
    return file.depth == 0 and file.pending == 0 and file.refused == 0


def _files_of(path: Path) -> list[Path]:
    return [path, *(path.with_name(path.name + suffix) for suffix in _COMPANIONS)]


def _spool_files(directory: Path) -> list[Path]:
    """The spool files in ``directory``, least recently written first."""
    return sorted(directory.glob(f"*{_SUFFIX}"), key=_mtime)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
