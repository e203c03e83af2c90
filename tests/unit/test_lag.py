"""Lag per partition: measured from held positions, reported to Prometheus, throttled writes."""

from __future__ import annotations

import pytest
from aiokafka.structs import TopicPartition

from consumers.engine import lag
from consumers.engine.lag import LagReporter, PartitionLag, measure
from consumers.engine.metrics import ConsumerMetrics

A0, A1, B0 = TopicPartition("t.a", 0), TopicPartition("t.a", 1), TopicPartition("t.b", 0)


@pytest.mark.parametrize(
    ("positions", "ends", "expected"),
    [
        ({A0: 3}, {A0: 10}, [PartitionLag("t.a", 0, 10, 3)]),
        ({A0: 10}, {A0: 10}, [PartitionLag("t.a", 0, 10, 10)]),
        # Not fetched from yet: its end offset is unknown, so it is left out, not guessed.
        ({A0: 3, A1: 0}, {A0: 5, A1: None}, [PartitionLag("t.a", 0, 5, 3)]),
        # Held partitions only: an end offset of a partition not held is ignored.
        ({B0: 1}, {A0: 5, B0: 4}, [PartitionLag("t.b", 0, 4, 1)]),
        ({}, {A0: 5}, []),
    ],
)
def test_measure(
    positions: dict[TopicPartition, int],
    ends: dict[TopicPartition, int | None],
    expected: list[PartitionLag],
) -> None:
    assert measure(positions, ends) == expected


@pytest.mark.parametrize(("end", "next_offset", "lag"), [(10, 3, 7), (10, 10, 0), (10, 12, 0)])
def test_lag_never_negative(end: int, next_offset: int, lag: int) -> None:
    assert PartitionLag("t", 0, end, next_offset).lag == lag


def _gauge(metrics: ConsumerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_reporter_sets_total_and_partition_gauges_and_forgets_revoked() -> None:
    metrics = ConsumerMetrics()
    reporter = LagReporter("g", metrics)
    reporter.observe([PartitionLag("t.a", 0, 10, 4), PartitionLag("t.a", 1, 5, 5)])
    assert _gauge(metrics, "drip_consumer_lag_records", group="g") == 6
    partition = "drip_consumer_partition_lag_records"
    assert _gauge(metrics, partition, group="g", topic="t.a", partition="0") == 6
    assert _gauge(metrics, partition, group="g", topic="t.a", partition="1") == 0

    reporter.observe([PartitionLag("t.a", 1, 9, 5)])  # partition 0 went to another process

    assert _gauge(metrics, "drip_consumer_lag_records", group="g") == 4
    assert _gauge(metrics, partition, group="g", topic="t.a", partition="0") is None
    assert _gauge(metrics, partition, group="g", topic="t.a", partition="1") == 4


def test_writes_are_throttled_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(lag.time, "monotonic", lambda: now[0])
    reporter = LagReporter("g", ConsumerMetrics())
    assert reporter.due()  # the first measurement is written at once
    assert not reporter.due()
    now[0] += lag.REPORT_EVERY_S / 2
    assert not reporter.due()
    assert reporter.due(force=True)
    now[0] += lag.REPORT_EVERY_S
    assert reporter.due()
