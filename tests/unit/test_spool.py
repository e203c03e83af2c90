"""The spool directory: its bound, one locked file per process, and files left by dead ones."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from bridge.spool import Spool, SpoolFull
from bridge.spool_file import record_size
from tests.unit.test_spool_file import make_record

# A receiver stand-in: spools records, says where, then waits to be killed.
_CHILD = """
import asyncio, sys
from pathlib import Path
from bridge.spool import Spool
from tests.unit.test_spool_file import make_record

async def main() -> None:
    spool = await Spool.open(Path(sys.argv[1]), 10**9)
    for n in range(int(sys.argv[2])):
        await spool.append(make_record(n))
    print(spool.path, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


_ROOT = Path(__file__).resolve().parents[2]


def _names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


class _Child:
    """A process that spooled ``count`` records into ``directory`` and holds its file."""

    def __init__(self, process: asyncio.subprocess.Process, path: Path) -> None:
        self.process = process
        self.path = path

    @classmethod
    async def start(cls, directory: Path, count: int) -> _Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            str(directory),
            str(count),
            stdout=asyncio.subprocess.PIPE,
            cwd=_ROOT,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert line, "the child ended before spooling"
        return cls(process, Path(line.decode().strip()))

    async def kill(self) -> None:
        """``kill -9``: no shutdown code runs, the kernel drops the process's locks."""
        self.process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.process.wait(), 30) == -signal.SIGKILL


async def test_a_full_spool_refuses_without_storing(tmp_path: Path) -> None:
    size = record_size(make_record(0))
    spool = await Spool.open(tmp_path, max_bytes=2 * size + size // 2)
    await spool.append(make_record(0))
    await spool.append(make_record(1))
    with pytest.raises(SpoolFull, match="DRIP_SPOOL_MAX_BYTES"):
        await spool.append(make_record(2))
    assert (spool.depth, spool.bytes) == (2, 2 * size)
    await spool.remove(await spool.oldest(1))
    await spool.append(make_record(3))
    assert [s.record.event_id for s in await spool.oldest(10)] == ["evt-1", "evt-3"]
    await spool.close()


async def test_concurrent_appends_do_not_overshoot_the_bound(tmp_path: Path) -> None:
    size = record_size(make_record(0))
    spool = await Spool.open(tmp_path, max_bytes=3 * size)
    outcomes = await asyncio.gather(
        *(spool.append(make_record(n)) for n in range(8)), return_exceptions=True
    )
    assert [type(o).__name__ for o in outcomes] == ["NoneType"] * 3 + ["SpoolFull"] * 5
    assert spool.depth == 3
    await spool.close()


async def test_metrics(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, max_bytes=10**6)
    assert (spool.depth, spool.bytes, spool.oldest_age_s, spool.drained_total) == (0, 0, 0.0, 0)
    await spool.append(make_record(0), received_at=1.0)
    await spool.append(make_record(1))
    assert spool.depth == 2
    assert spool.bytes == 2 * record_size(make_record(0))
    assert spool.oldest_age_s > 1_000_000  # received at 1 s past the epoch
    await spool.remove(await spool.oldest(1))
    assert spool.drained_total == 1
    assert 0 <= spool.oldest_age_s < 60
    await spool.close()


async def test_own_file_kept_when_not_empty_and_deleted_when_empty(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, max_bytes=10**6)
    assert spool.path.name == f"receiver-{os.getpid()}.sqlite3"
    await spool.append(make_record(0))
    await spool.close()
    assert spool.path.exists()

    again = await Spool.open(tmp_path, max_bytes=10**6)
    assert again.path == spool.path
    assert [s.record.event_id for s in await again.oldest(10)] == ["evt-0"]
    await again.remove(await again.oldest(10))
    await again.close()
    assert _names(tmp_path) == []


async def test_the_directory_is_made_private(tmp_path: Path) -> None:
    directory = tmp_path / "spool" / "inner"
    spool = await Spool.open(directory, max_bytes=10**6)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(spool.path.with_suffix(".lock").stat().st_mode) == 0o600
    await spool.close()


async def test_a_locked_name_is_not_shared(tmp_path: Path) -> None:
    first = await Spool.open(tmp_path, max_bytes=10**6)
    second = await Spool.open(tmp_path, max_bytes=10**6)
    assert second.path.name == f"receiver-{os.getpid()}-1.sqlite3"
    assert second.depth == 0
    await first.close()
    await second.close()


async def test_a_live_process_keeps_its_file_and_a_killed_ones_is_drained(
    tmp_path: Path,
) -> None:
    child = await _Child.start(tmp_path, count=5)
    try:
        spool = await Spool.open(tmp_path, max_bytes=10**6)
        assert spool.path != child.path
        assert spool.depth == 0  # the child's lock keeps its file out of reach
        assert await spool.claim_orphans() == 0
    finally:
        await child.kill()
    # Its await returned before the kill: every record is on disk.
    assert await spool.claim_orphans() == 1
    assert spool.depth == 5
    stored = await spool.oldest(10)
    assert [s.record for s in stored] == [make_record(n) for n in range(5)]
    assert {s.source for s in stored} == {child.path}
    await spool.remove(stored)
    assert not child.path.exists()
    assert not child.path.with_suffix(".lock").exists()
    assert spool.drained_total == 5
    await spool.close()


async def test_a_starting_process_claims_files_of_killed_ones_first(tmp_path: Path) -> None:
    children = [await _Child.start(tmp_path, count=n) for n in (2, 3)]
    for child in children:
        await child.kill()
    spool = await Spool.open(tmp_path, max_bytes=10**6)
    await spool.append(make_record(99))
    assert spool.depth == 6
    read: list[str] = []
    while batch := await spool.oldest(10):
        read += [s.record.event_id for s in batch]
        await spool.remove(batch)
    # The dead processes' files first (oldest file first), then this process's own.
    assert read == ["evt-0", "evt-1", "evt-0", "evt-1", "evt-2", "evt-99"]
    await spool.close()
    assert _names(tmp_path) == []
