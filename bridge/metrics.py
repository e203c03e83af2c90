"""Prometheus metrics of one receiver app, in a registry of its own.

A registry per app (not the process-global one) lets tests build several apps in one process.
Label values are bounded: event types are reported as their topic suffix (a documented type,
or ``other``), so a stream of custom types cannot grow the series without limit.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from dripbridge.contract import DOCUMENTED_TYPES, OTHER

CONTENT_TYPE = CONTENT_TYPE_LATEST

_PUBLISH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def type_label(event_type: str | None) -> str:
    """The label value of an event type: documented type, ``other``, or empty when unknown."""
    if event_type is None:
        return ""
    return event_type if event_type in DOCUMENTED_TYPES else OTHER


class Metrics:
    """The receiver's counters and histogram; label children are cached for the hot path."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "drip_webhook_requests",
            "Webhook requests answered, by HTTP status and event type.",
            ["status", "event_type"],
            registry=self.registry,
        )
        self._signature_failures = Counter(
            "drip_webhook_signature_failures",
            "Requests refused with 401, by reason (missing, malformed, mismatch).",
            ["reason"],
            registry=self.registry,
        )
        self._signature_forms = Counter(
            "drip_webhook_signatures_verified",
            "Verified signatures, by the body form they matched (raw, compact).",
            ["form"],
            registry=self.registry,
        )
        self._publish_seconds = Histogram(
            "drip_webhook_publish_seconds",
            "Time from handing a record to the producer to Kafka's acknowledgement.",
            buckets=_PUBLISH_BUCKETS,
            registry=self.registry,
        )
        # labels() validates and looks up on every call; the hot path reuses the children.
        self._children: dict[tuple[object, ...], Counter] = {}

    def _child(self, counter: Counter, *values: str) -> Counter:
        key = (counter, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(*values)
        return child

    def request(self, status: int, event_type: str | None) -> None:
        """Count one answered request."""
        self._child(self._requests, str(status), type_label(event_type)).inc()

    def signature_failure(self, reason: str) -> None:
        """Count one 401 by its reason."""
        self._child(self._signature_failures, reason).inc()

    def signature_form(self, form: str) -> None:
        """Count one verified signature by the form it matched."""
        self._child(self._signature_forms, form).inc()

    def published(self, seconds: float) -> None:
        """Record how long one acknowledged publish took."""
        self._publish_seconds.observe(seconds)

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
