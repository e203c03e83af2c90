"""Prometheus metrics of one receiver app, in a registry of its own.

A registry per app (not the process-global one) lets tests build several apps in one process.
Counts are plain integers read by a collector at scrape time: the receiver runs on one event
loop thread, so the lock every prometheus_client metric takes per increment buys nothing on
the hot path. Label values are bounded: event types are reported as their topic suffix (a
documented type, or ``other``), so a stream of custom types cannot grow the series.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bridge.spool import Spool
from core.contract import DOCUMENTED_TYPES, OTHER

CONTENT_TYPE = CONTENT_TYPE_LATEST

PUBLISH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def type_label(event_type: str | None) -> str:
    """The label value of an event type: documented type, ``other``, or empty when unknown."""
    if event_type is None:
        return ""
    return event_type if event_type in DOCUMENTED_TYPES else OTHER


class Metrics(Collector):
    """The receiver's counters and publish-latency histogram.

    ``drip_webhook_requests_total{status, event_type}``, ``..._signature_failures_total
    {reason}``, ``..._signatures_verified_total{form}`` and ``drip_webhook_publish_seconds``.
    """

    def __init__(self, restarts: int = 0) -> None:
        self._restarts = restarts
        self._requests: Counter[tuple[int, str]] = Counter()
        self._failures: Counter[str] = Counter()
        self._forms: Counter[str] = Counter()
        self._buckets = [0] * (len(PUBLISH_BUCKETS) + 1)  # the last one is +Inf
        self._publish_sum = 0.0
        self._spool: Spool | None = None
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def request(self, status: int, event_type: str | None) -> None:
        """Count one answered request."""
        self._requests[(status, type_label(event_type))] += 1

    def signature_failure(self, reason: str) -> None:
        """Count one 401 by its reason."""
        self._failures[reason] += 1

    def signature_form(self, form: str) -> None:
        """Count one verified signature by the form it matched."""
        self._forms[form] += 1

    def published(self, seconds: float) -> None:
        """Record how long one acknowledged publish took."""
        self._buckets[bisect_left(PUBLISH_BUCKETS, seconds)] += 1
        self._publish_sum += seconds

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    def watch_spool(self, spool: Spool) -> None:
        """Report ``spool``'s depth, bytes, oldest age and drained count at each scrape."""
        self._spool = spool

    def collect(self) -> Iterator[Metric]:
        yield restarts_metric(self._restarts)
        if self._spool is not None:
            yield from _spool_metrics(self._spool)
        requests = CounterMetricFamily(
            "drip_webhook_requests",
            "Webhook requests answered, by HTTP status and event type.",
            labels=["status", "event_type"],
        )
        for (status, event_type), count in sorted(self._requests.items()):
            requests.add_metric([str(status), event_type], count)
        yield requests
        failures = CounterMetricFamily(
            "drip_webhook_signature_failures",
            "Requests refused with 401, by reason (missing, malformed, mismatch, duplicate).",
            labels=["reason"],
        )
        for reason, count in sorted(self._failures.items()):
            failures.add_metric([reason], count)
        yield failures
        forms = CounterMetricFamily(
            "drip_webhook_signatures_verified",
            "Verified signatures, by the body form they matched (raw, compact).",
            labels=["form"],
        )
        for form, count in sorted(self._forms.items()):
            forms.add_metric([form], count)
        yield forms
        cumulative, running = [], 0
        for bound, count in zip((*map(str, PUBLISH_BUCKETS), "+Inf"), self._buckets, strict=True):
            running += count
            cumulative.append((bound, running))
        yield HistogramMetricFamily(
            "drip_webhook_publish_seconds",
            "Time from handing a record to the producer to Kafka's acknowledgement.",
            buckets=cumulative,
            sum_value=self._publish_sum,
        )


def _spool_metrics(spool: Spool) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "drip_spool_records", "Verified events in the spool, waiting for Kafka.", spool.depth
    )
    yield GaugeMetricFamily(
        "drip_spool_bytes",
        "Record bytes in the spool (counted against DRIP_SPOOL_MAX_BYTES).",
        spool.bytes,
    )
    yield GaugeMetricFamily(
        "drip_spool_oldest_age_seconds",
        "Age of the oldest record in the spool.",
        spool.oldest_age_s,
    )
    yield CounterMetricFamily(
        "drip_spool_drained", "Spooled records sent to Kafka and removed.", spool.drained_total
    )


def restarts_metric(restarts: int) -> Metric:
    """``drip_process_restarts``: how often the stack's supervisor restarted this process."""
    return GaugeMetricFamily(
        "drip_process_restarts",
        "Times this process was restarted by its supervisor after exiting (stack, consume -p).",
        restarts,
    )
