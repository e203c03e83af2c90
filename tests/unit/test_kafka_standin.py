"""The in-memory Kafka stand-in behaves as aiokafka does where the consumer runtime relies on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import ConsumerRebalanceListener
from aiokafka.errors import IllegalStateError
from aiokafka.structs import TopicPartition

from tests.kafka_standin import Broker, Record, StandinConsumer

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


def _broker(per_partition: int) -> Broker:
    broker = Broker()
    broker.create_topic("t", 2)
    for tp in (T0, T1):
        for i in range(per_partition):
            broker.produce(tp, f"{tp.partition}-{i}".encode())
    return broker


async def _member(broker: Broker, *assigned: TopicPartition) -> StandinConsumer:
    consumer = StandinConsumer(broker, "g")
    consumer.subscribe(["t"])
    await consumer.rebalance(assigned)
    return consumer


def _offsets(fetched: dict[TopicPartition, list[Record]]) -> dict[TopicPartition, list[int]]:
    return {tp: [r.offset for r in records] for tp, records in fetched.items()}


@pytest.mark.parametrize(
    ("committed", "log_start", "sought", "first"),
    [
        pytest.param(None, 0, None, 0, id="new-group-reads-from-the-log-start"),
        pytest.param(3, 0, None, 3, id="else-from-the-committed-offset"),
        pytest.param(3, 0, 1, 1, id="a-seek-decides-over-both"),
        pytest.param(1, 4, None, 4, id="committed-before-the-log-start-resets-to-it"),
        pytest.param(None, 4, 2, 4, id="sought-before-the-log-start-resets-to-it"),
        pytest.param(None, 0, 9, 0, id="sought-past-the-end-resets-to-the-log-start"),
    ],
)
async def test_where_a_fetch_starts(
    committed: int | None, log_start: int, sought: int | None, first: int
) -> None:
    broker = _broker(6)
    if committed is not None:
        broker.committed["g"] = {T0: committed}
    broker.delete_before(T0, log_start)
    consumer = await _member(broker, T0)
    if sought is not None:
        consumer.seek(T0, sought)
    fetched = await consumer.getmany(max_records=2)
    assert _offsets(fetched) == {T0: [first, first + 1]}


async def test_getmany_takes_partitions_in_turn_up_to_max_records() -> None:
    consumer = await _member(_broker(3), T0, T1)
    batches = [_offsets(await consumer.getmany(max_records=2)) for _ in range(4)]
    assert batches == [
        {T1: [0, 1]},
        {T0: [0, 1]},
        {T1: [2], T0: [2]},
        {},
    ]
    assert (consumer.highwater(T0), consumer.highwater(T1)) == (3, 3)


async def test_getmany_waits_for_a_record_up_to_its_timeout() -> None:
    broker = _broker(0)
    consumer = await _member(broker, T0)
    assert consumer.highwater(T0) is None  # not fetched from yet
    assert await consumer.getmany(timeout_ms=10) == {}
    waiting = asyncio.create_task(consumer.getmany(timeout_ms=5_000))
    await asyncio.sleep(0)  # let it start waiting
    broker.produce(T0, b"late")
    fetched = await asyncio.wait_for(waiting, 1)
    assert [r.value for r in fetched[T0]] == [b"late"]


class _Recorder(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: StandinConsumer) -> None:
        self.consumer = consumer
        self.calls: list[tuple[str, set[TopicPartition], set[TopicPartition]]] = []

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.calls.append(("revoked", revoked, self.consumer.assignment()))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.calls.append(("assigned", assigned, self.consumer.assignment()))


async def test_rebalances_are_eager_and_seen_by_the_listener() -> None:
    consumer = StandinConsumer(_broker(1), "g")
    listener = _Recorder(consumer)
    consumer.subscribe(["t"], listener=listener)
    await consumer.rebalance([T0, T1])
    await consumer.rebalance([T1])
    assert listener.calls == [
        ("revoked", set(), set()),
        ("assigned", {T0, T1}, {T0, T1}),
        ("revoked", {T0, T1}, {T0, T1}),  # everything held, the assignment unchanged meanwhile
        ("assigned", {T1}, {T1}),
    ]
    assert consumer.listened == [(f"on_partitions_{name}", tps) for name, tps, _ in listener.calls]


@pytest.mark.parametrize(
    "call",
    [  # a coroutine function raises when awaited, as aiokafka's does
        pytest.param(lambda c: c.seek(T1, 0), id="seek"),
        pytest.param(lambda c: c.highwater(T1), id="highwater"),
        pytest.param(lambda c: c.commit({T1: 1}), id="commit"),
    ],
)
async def test_a_partition_not_held_is_refused(call: Callable[[StandinConsumer], object]) -> None:
    consumer = await _member(_broker(1), T0)
    with pytest.raises(IllegalStateError):
        result = call(consumer)
        if asyncio.iscoroutine(result):
            await result


async def test_commits_are_recorded_for_the_group() -> None:
    broker = _broker(2)
    consumer = await _member(broker, T0, T1)
    await consumer.commit({T0: 2})
    await consumer.commit({T1: 1})
    assert consumer.commits == [{T0: 2}, {T1: 1}]
    assert broker.committed == {"g": {T0: 2, T1: 1}}
