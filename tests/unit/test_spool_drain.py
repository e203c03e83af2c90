"""The route around an absent Kafka: when records are spooled, and how the drainer empties it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
    UnknownProducerId,
)

from bridge import spool_drain
from bridge.ingest import Record
from bridge.spool import Spool, SpoolFull
from bridge.spool_drain import Spooled, SpoolRoute, goes_to_spool
from bridge.spool_file import record_size
from core.errors import PublishTimeout, ServiceUnavailable
from tests.unit.test_spool_file import make_record

_FAST = (0.005, 0.01)


def _refusal(cause: BaseException | None) -> ServiceUnavailable:
    try:
        raise ServiceUnavailable("refused") from cause
    except ServiceUnavailable as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "spooled"),
    [
        (PublishTimeout("no ack in 10 s"), True),
        (_refusal(None), True),  # the producer is not running
        (_refusal(KafkaConnectionError()), True),
        (_refusal(MessageSizeTooLargeError()), False),
        (_refusal(RecordListTooLargeError()), False),
        (_refusal(TopicAuthorizationFailedError()), False),
        # Not marked retriable by aiokafka, yet nothing against the record: after batches
        # expired in a long outage the producer is replaced and the record sent again.
        (_refusal(OutOfOrderSequenceNumber()), True),
        (_refusal(UnknownProducerId()), True),
        (_refusal(ValueError("odd")), True),  # unknown: kept, never dropped
    ],
)
def test_which_failures_go_to_the_spool(error: ServiceUnavailable, spooled: bool) -> None:
    assert goes_to_spool(error) is spooled


class _Kafka:
    """Stands in for the publisher: acks in order, or fails while ``up`` is False.

    Each ack first checks, in the spool file itself, that the record is still stored: a
    record must leave the spool only after its ack.
    """

    def __init__(self, spool: Spool, *, up: bool = True, failure: Exception | None = None) -> None:
        self.up = up
        self.failure = failure or PublishTimeout("Kafka did not acknowledge within 10 s")
        self.acked: list[str] = []
        self.published: list[str] = []
        self.probes = 0
        self.up_after_probes: int | None = None
        self.removed_before_ack: list[str] = []
        self._spool = spool

    async def publish(self, record: Record) -> str:
        if not self.up:
            raise self.failure
        self.published.append(record.event_id)
        return f"ack:{record.event_id}"

    async def send(self, record: Record) -> str:
        if not self.up:  # decided when called, so a whole batch fails or none of it
            raise self.failure
        await asyncio.sleep(0)
        if not self._stored(record.event_id):
            self.removed_before_ack.append(record.event_id)
        self.acked.append(record.event_id)
        return f"ack:{record.event_id}"

    async def probe(self) -> bool:
        self.probes += 1
        if self.up_after_probes is not None and self.probes >= self.up_after_probes:
            self.up = True
        return True

    def _stored(self, event_id: str) -> bool:
        reader = sqlite3.connect(self._spool.path)
        try:
            rows = reader.execute("SELECT 1 FROM records WHERE event_id = ?", (event_id,))
            return rows.fetchone() is not None
        finally:
            reader.close()


async def test_kafka_present_publishes_directly(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, 10**6)
    kafka = _Kafka(spool)
    route = SpoolRoute(spool, kafka.publish, kafka.probe)
    assert await route.deliver(make_record(1)) == "ack:evt-1"
    assert (kafka.published, spool.depth, route.away) == (["evt-1"], 0, False)
    await spool.close()


async def test_a_timeout_spools_and_later_records_skip_the_wait(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, 10**6)
    kafka = _Kafka(spool, up=False)
    calls = 0

    async def publish(record: Record) -> str:
        nonlocal calls
        calls += 1
        return await kafka.publish(record)

    route = SpoolRoute(spool, publish, kafka.probe)
    assert await route.deliver(make_record(1)) == Spooled("evt-1")
    assert await route.deliver(make_record(2)) == Spooled("evt-2")
    assert calls == 1  # the second went to the spool at once
    assert route.away
    assert [s.record.event_id for s in await spool.oldest(10)] == ["evt-1", "evt-2"]
    await spool.close()


async def test_a_refused_record_is_not_spooled(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, 10**6)
    kafka = _Kafka(spool, up=False, failure=_refusal(MessageSizeTooLargeError()))
    route = SpoolRoute(spool, kafka.publish, kafka.probe)
    with pytest.raises(ServiceUnavailable, match="refused"):
        await route.deliver(make_record(1))
    assert (spool.depth, route.away) == (0, False)
    await spool.close()


async def test_a_full_spool_answers_spool_full(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, record_size(make_record(0)))
    kafka = _Kafka(spool, up=False)
    route = SpoolRoute(spool, kafka.publish, kafka.probe)
    await route.deliver(make_record(0))
    with pytest.raises(SpoolFull):
        await route.deliver(make_record(1))
    assert spool.depth == 1
    await spool.close()


async def test_records_left_by_an_earlier_run_queue_new_ones_behind_them(tmp_path: Path) -> None:
    earlier = await Spool.open(tmp_path, 10**6)
    await earlier.append(make_record(0))
    await earlier.close()

    spool = await Spool.open(tmp_path, 10**6)
    kafka = _Kafka(spool)
    route = SpoolRoute(spool, kafka.publish, kafka.probe, send=kafka.send, backoff_s=_FAST)
    assert await route.deliver(make_record(1)) == Spooled("evt-1")
    assert kafka.published == []
    route.start()
    try:
        await asyncio.wait_for(route.wait_direct(), 10)
    finally:
        await route.stop()
    assert kafka.acked == ["evt-0", "evt-1"]
    assert await route.deliver(make_record(2)) == "ack:evt-2"
    await spool.close()


async def test_drainer_waits_out_failures_then_sends_in_order_and_deletes_after_ack(
    tmp_path: Path,
) -> None:
    spool = await Spool.open(tmp_path, 10**6)
    kafka = _Kafka(spool, up=False)
    kafka.up_after_probes = 4  # the probe answers, but sends fail for three rounds
    route = SpoolRoute(spool, kafka.publish, kafka.probe, send=kafka.send, batch=7, backoff_s=_FAST)
    for n in range(20):
        assert await route.deliver(make_record(n)) == Spooled(f"evt-{n}")
    route.start()
    # Records arriving while the drainer runs queue behind the others.
    more = [route.deliver(make_record(n)) for n in range(20, 25)]
    assert await asyncio.gather(*more) == [Spooled(f"evt-{n}") for n in range(20, 25)]
    try:
        await asyncio.wait_for(route.wait_direct(), 10)
    finally:
        await route.stop()
    assert kafka.acked == [f"evt-{n}" for n in range(25)]
    assert kafka.removed_before_ack == []
    assert route.send_failures == 3 * 7
    assert (spool.depth, spool.drained_total, route.away) == (0, 25, False)
    assert await route.deliver(make_record(25)) == "ack:evt-25"
    assert kafka.published == ["evt-25"]
    await spool.close()


async def test_a_crash_between_ack_and_delete_sends_again_never_loses(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, 10**6)
    for n in range(3):
        await spool.append(make_record(n))
    kafka = _Kafka(spool)
    batch = await spool.oldest(10)
    for spooled in batch:
        await kafka.send(spooled.record)
    await spool.close()  # acknowledged, but the process ends before the delete

    again = await Spool.open(tmp_path, 10**6)
    kafka_again = _Kafka(again)
    route = SpoolRoute(again, kafka_again.publish, kafka_again.probe, send=kafka_again.send)
    route.start()
    try:
        await asyncio.wait_for(route.wait_direct(), 10)
    finally:
        await route.stop()
    assert kafka_again.acked == ["evt-0", "evt-1", "evt-2"]
    assert again.depth == 0
    await again.close()


async def test_a_record_refused_for_good_is_set_aside_and_the_rest_drains(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, 10**6)
    for n in range(4):
        await spool.append(make_record(n))
    kafka = _Kafka(spool)

    async def send(record: Record) -> str:
        if record.event_id == "evt-1":
            raise _refusal(MessageSizeTooLargeError())
        return await kafka.send(record)

    route = SpoolRoute(spool, kafka.publish, kafka.probe, send=send, backoff_s=_FAST)
    route.start()
    try:
        await asyncio.wait_for(route.wait_direct(), 10)
    finally:
        await route.stop()
    assert kafka.acked == ["evt-0", "evt-2", "evt-3"]
    assert (spool.depth, spool.drained_total, spool.refused) == (0, 3, 1)
    reader = sqlite3.connect(spool.path)
    assert reader.execute("SELECT event_id, value, reason FROM refused").fetchall() == [
        ("evt-1", make_record(1).value, "refused")
    ]
    reader.close()
    await spool.close()
    assert spool.path.exists()  # kept for the operator


async def test_records_an_idle_drainer_claims_queue_new_ones_behind_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_drain, "ORPHAN_SCAN_S", 0.05)
    spool = await Spool.open(tmp_path, 10**6)
    kafka = _Kafka(spool)
    answering = True

    async def probe() -> bool:
        return answering

    route = SpoolRoute(spool, kafka.publish, probe, send=kafka.send, backoff_s=_FAST)
    route.start()
    try:
        assert await route.deliver(make_record(1)) == "ack:evt-1"
        ended = await Spool.open(tmp_path, 10**6)  # a receiver that ends holding a record
        await ended.append(make_record(0))
        answering = False
        await ended.close()
        for _ in range(500):  # the drainer's scan claims the file
            if route.away:
                break
            await asyncio.sleep(0.01)
        assert route.away
        assert await route.deliver(make_record(2)) == Spooled("evt-2")
        answering = True
        await asyncio.wait_for(route.wait_direct(), 10)
    finally:
        await route.stop()
    assert kafka.published == ["evt-1"]
    assert kafka.acked == ["evt-0", "evt-2"]
    await spool.close()
