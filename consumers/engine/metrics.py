"""Prometheus metrics of the consumer groups in one process, in a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_APPLY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ConsumerMetrics:
    """Per-group counters, apply latency and lag; one instance per process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.restarts = Gauge(
            "drip_process_restarts",
            "Times this process was restarted by its supervisor after exiting (stack, consume -p).",
            registry=self.registry,
        )
        self.batches = Counter(
            "drip_consumer_batches",
            "Batches committed to PostgreSQL, by group.",
            ["group"],
            registry=self.registry,
        )
        self.events = Counter(
            "drip_consumer_events_applied",
            "Events applied to the group's tables (dead letters not included), by group.",
            ["group"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "drip_consumer_dead_letters",
            "Records written to dead_letters, by group.",
            ["group"],
            registry=self.registry,
        )
        self.dead_letter_run = Gauge(
            "drip_consumer_dead_letter_run",
            "Dead letters in a row with the same error, by group; a long run is likely a bug.",
            ["group"],
            registry=self.registry,
        )
        self.retries = Counter(
            "drip_consumer_retries",
            "Batches given up and read again after a Kafka or PostgreSQL failure, by group.",
            ["group"],
            registry=self.registry,
        )
        self.apply_seconds = Histogram(
            "drip_consumer_apply_seconds",
            "Time to apply one batch and commit its transaction, by group.",
            ["group"],
            buckets=_APPLY_BUCKETS,
            registry=self.registry,
        )
        self.lag = Gauge(
            "drip_consumer_lag_records",
            "Records published but not yet applied, over the partitions this process holds.",
            ["group"],
            registry=self.registry,
        )
        self.partition_lag = Gauge(
            "drip_consumer_partition_lag_records",
            "Records published but not yet applied, per partition this process holds.",
            ["group", "topic", "partition"],
            registry=self.registry,
        )

    def committed(self, group: str, events: int, dead: int, seconds: float) -> None:
        """Record one committed batch."""
        self.batches.labels(group).inc()
        self.events.labels(group).inc(events)
        if dead:
            self.dead_letters.labels(group).inc(dead)
        self.apply_seconds.labels(group).observe(seconds)
