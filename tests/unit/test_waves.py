"""Waves hand records over together and in order, and skip the ones whose publish gave up."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from bridge.ingest import Record
from bridge.waves import Waves


def _record(n: int) -> Record:
    return Record("t", str(n).encode(), b"{}", [], str(n), "x")


class _Producer:
    """Stands in for the producer's ``send``: delivery futures the test resolves itself."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.sent: list[int] = []
        self.deliveries: list[asyncio.Future[Any]] = []
        self.fail_on = fail_on

    async def send(self, record: Record) -> asyncio.Future[Any]:
        n = int(record.event_id)
        if n == self.fail_on:
            raise RuntimeError("refused")
        self.sent.append(n)
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery


async def test_a_wave_leaves_together_in_order() -> None:
    producer = _Producer()
    waves = Waves(0.02, producer.send, 60.0, _late)
    waiters = [waves.submit(_record(n)) for n in range(5)]
    await asyncio.sleep(0)
    assert producer.sent == []  # still collecting
    await asyncio.sleep(0.05)
    assert producer.sent == [0, 1, 2, 3, 4]
    for n, delivery in enumerate(producer.deliveries):
        delivery.set_result(("meta", n))
    assert await asyncio.gather(*waiters) == [("meta", n) for n in range(5)]


async def test_cancelled_waiter_is_not_sent_and_errors_reach_their_waiter() -> None:
    producer = _Producer(fail_on=2)
    waves = Waves(0.01, producer.send, 60.0, _late)
    waiters = [waves.submit(_record(n)) for n in range(4)]
    waiters[1].cancel()
    await waves.drain()
    assert producer.sent == [0, 3]
    with pytest.raises(RuntimeError, match="refused"):
        await waiters[2]
    producer.deliveries[0].set_exception(TimeoutError("no ack"))
    with pytest.raises(TimeoutError):
        await waiters[0]


async def test_drain_sends_at_once() -> None:
    producer = _Producer()
    waves = Waves(60.0, producer.send, 60.0, _late)
    waves.submit(_record(7))
    await asyncio.wait_for(waves.drain(), 1)
    assert producer.sent == [7]


def _late() -> Exception:
    return TimeoutError("no ack in time")


async def test_a_record_without_an_ack_in_time_fails_with_late() -> None:
    # The producer takes records but never acknowledges them (Kafka away).
    producer = _Producer()
    waves = Waves(0.001, producer.send, 0.05, _late)
    waiter = waves.submit(_record(1))
    with pytest.raises(TimeoutError, match="no ack in time"):
        await asyncio.wait_for(waiter, 2)


async def test_an_acknowledged_wave_is_not_held_until_its_deadline() -> None:
    # The deadline timer must let go of a wave once every record has its answer: held for
    # DRIP_PUBLISH_TIMEOUT_S, thousands of waves a second would pile up for the collector.
    producer = _Producer()
    waves = Waves(0.001, producer.send, 60.0, _late)
    waiter = waves.submit(_record(1))
    await waves.drain()
    producer.deliveries[0].set_result(("meta", 1))
    assert await waiter == ("meta", 1)
    held = weakref.ref(waiter)
    del waiter
    producer.deliveries.clear()
    await asyncio.sleep(0)  # the loop's handle that resumed this test holds it too
    gc.collect()
    assert held() is None
