"""Offsets committed back to Kafka: at most once a second, in the background, held ones kept."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import TopicPartition

from consumers.engine.kafka_commits import KafkaCommits

A, B, GONE = TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("t", 9)


class Consumer:
    """The two calls KafkaCommits makes on an AIOKafkaConsumer; commits wait for ``release``."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.release = asyncio.Event()
        self.release.set()

    def assignment(self) -> set[TopicPartition]:
        return {A, B}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self.release.wait()
        self.commits.append(offsets)


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        pytest.param([{A: 5}], [{A: 5}], id="first-commits-at-once"),
        pytest.param([{A: 5}, {A: 7, B: 2}], [{A: 5}], id="next-waits-a-second"),
        pytest.param([{GONE: 3}], [], id="partitions-no-longer-held-are-dropped"),
    ],
)
async def test_commits_at_most_once_a_second(
    moves: list[dict[TopicPartition, int]], expected: list[dict[TopicPartition, int]]
) -> None:
    consumer, commits = Consumer(), KafkaCommits("g")
    for offsets in moves:
        await commits.moved(consumer, offsets)  # type: ignore[arg-type]
    await commits.settled()
    assert consumer.commits == expected


async def test_forced_commit_takes_everything_noted_since() -> None:
    consumer, commits = Consumer(), KafkaCommits("g")
    await commits.moved(consumer, {A: 5})  # type: ignore[arg-type]
    await commits.moved(consumer, {A: 7, B: 2})  # type: ignore[arg-type]
    await commits.settled()
    await commits.moved(consumer, {}, force=True)  # type: ignore[arg-type]
    assert consumer.commits == [{A: 5}, {A: 7, B: 2}]


async def test_returns_while_the_coordinator_answers() -> None:
    consumer, commits = Consumer(), KafkaCommits("g")
    consumer.release.clear()
    await asyncio.wait_for(commits.moved(consumer, {A: 5}), 1)  # type: ignore[arg-type]
    assert consumer.commits == []
    consumer.release.set()
    await commits.settled()
    assert consumer.commits == [{A: 5}]


async def test_a_stuck_commit_is_cancelled_on_the_way_out() -> None:
    consumer, commits = Consumer(), KafkaCommits("g")
    consumer.release.clear()
    await commits.moved(consumer, {A: 5})  # type: ignore[arg-type]
    await asyncio.wait_for(commits.settled(cancel=True), 1)
    assert consumer.commits == []
