"""One spool file: encoding, durability across a reopen, order, group commit, file modes."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest

from bridge.ingest import Record
from bridge.spool_file import SpoolFile, decode_headers, encode_headers, record_size


def make_record(n: int, *, key: bytes | None = b"member-1", value: bytes | None = None) -> Record:
    return Record(
        topic="drip.quest.completed",
        key=key,
        value=value if value is not None else b'{"n": %d}' % n,
        headers=[("event_id", str(n).encode()), ("raw", bytes(range(256)))],
        event_id=f"evt-{n}",
        event_type="quest.completed",
    )


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("event_id", b"abc")],
        [("binary", bytes(range(256))), ("empty", b"")],
        [("näme", b"\xff\xfe"), ("dup", b"1"), ("dup", b"2")],
    ],
)
def test_headers_round_trip_byte_for_byte(headers: list[tuple[str, bytes]]) -> None:
    assert decode_headers(encode_headers(headers)) == headers


@pytest.mark.parametrize(
    ("key", "value", "extra"),
    [(None, b"", 0), (b"k", b"", 1), (b"k", b"x" * 1000, 1001)],
)
def test_record_size_counts_key_and_value(key: bytes | None, value: bytes, extra: int) -> None:
    base = Record("t", None, b"", [], "e", "x")
    assert record_size(base._replace(key=key, value=value)) - record_size(base) == extra


async def test_records_survive_a_reopen_in_arrival_order(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    spool = SpoolFile(path)
    for n in range(5):
        await spool.append(make_record(n, key=None if n == 3 else b"member-1"), 1000.0 + n)
    await spool.close()

    again = SpoolFile(path, create=False)
    assert again.depth == 5
    assert again.bytes == sum(
        record_size(make_record(n, key=None if n == 3 else b"member-1")) for n in range(5)
    )
    assert again.oldest_received_at == 1000.0
    stored = await again.oldest(10)
    assert [s.record for s in stored] == [
        make_record(n, key=None if n == 3 else b"member-1") for n in range(5)
    ]
    assert [s.received_at for s in stored] == [1000.0 + n for n in range(5)]
    await again.close()


async def test_remove_deletes_only_the_given_records(tmp_path: Path) -> None:
    spool = SpoolFile(tmp_path / "spool.sqlite3")
    for n in range(4):
        await spool.append(make_record(n), 10.0 + n)
    first_two = await spool.oldest(2)
    await spool.remove(first_two)
    assert (spool.depth, spool.drained_total, spool.oldest_received_at) == (2, 2, 12.0)
    assert spool.bytes == 2 * record_size(make_record(0))
    assert [s.record.event_id for s in await spool.oldest(10)] == ["evt-2", "evt-3"]
    # Appended after a removal, a record still comes after the older ones.
    await spool.append(make_record(4), 14.0)
    assert [s.record.event_id for s in await spool.oldest(10)] == ["evt-2", "evt-3", "evt-4"]
    await spool.remove(await spool.oldest(10))
    assert (spool.depth, spool.bytes, spool.oldest_received_at) == (0, 0, None)
    await spool.close()


async def test_concurrent_appends_share_a_commit(tmp_path: Path) -> None:
    spool = SpoolFile(tmp_path / "spool.sqlite3")
    await asyncio.gather(*(spool.append(make_record(n)) for n in range(50)))
    assert spool.depth == 50
    assert 1 <= spool.commits < 10
    assert [s.record.event_id for s in await spool.oldest(100)] == [f"evt-{n}" for n in range(50)]
    await spool.close()


async def test_appends_awaited_one_by_one_each_commit(tmp_path: Path) -> None:
    spool = SpoolFile(tmp_path / "spool.sqlite3")
    for n in range(5):
        await spool.append(make_record(n))
    assert spool.commits == 5
    await spool.close()


async def test_await_returns_only_once_the_row_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    spool = SpoolFile(path)
    waiting = spool.append(make_record(1))
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT count(*) FROM records").fetchone() == (0,)
    assert spool.pending == 1
    await waiting
    assert reader.execute("SELECT event_id FROM records").fetchall() == [("evt-1",)]
    assert spool.pending == 0
    reader.close()
    await spool.close()


async def test_file_settings_and_modes(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    spool = SpoolFile(path)
    await spool.append(make_record(1))
    reader = sqlite3.connect(path)
    assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    reader.close()
    for file in (path, path.with_name(path.name + "-wal")):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    await spool.close()


async def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    from bridge.spool_file import SpoolError

    path = tmp_path / "spool.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=7")
    db.close()
    with pytest.raises(SpoolError, match="move it aside"):
        SpoolFile(path, create=False)
