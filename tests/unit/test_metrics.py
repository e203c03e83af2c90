"""Receiver metrics: bounded labels, cumulative histogram, one registry per app."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.metrics import Metrics, type_label


@pytest.mark.parametrize(
    ("event_type", "label"),
    [("member.joined", "member.joined"), ("custom.app.event", "other"), (None, "")],
)
def test_type_label(event_type: str | None, label: str) -> None:
    assert type_label(event_type) == label


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }


def test_counts_and_histogram() -> None:
    metrics = Metrics()
    for status, event_type in [(200, "quest.started"), (200, "x.custom"), (200, "y.custom")]:
        metrics.request(status, event_type)
    metrics.request(401, None)
    metrics.signature_failure("malformed")
    metrics.signature_form("compact")
    for seconds in (0.004, 0.005, 0.3, 11.0):
        metrics.published(seconds)
    samples = _samples(metrics)
    assert (
        samples[("drip_webhook_requests_total", (("event_type", "other"), ("status", "200")))] == 2
    )
    assert samples[("drip_webhook_requests_total", (("event_type", ""), ("status", "401")))] == 1
    assert samples[("drip_webhook_signature_failures_total", (("reason", "malformed"),))] == 1
    assert samples[("drip_webhook_signatures_verified_total", (("form", "compact"),))] == 1
    bucket = "drip_webhook_publish_seconds_bucket"
    assert samples[(bucket, (("le", "0.0025"),))] == 0
    assert samples[(bucket, (("le", "0.005"),))] == 2  # le is inclusive
    assert samples[(bucket, (("le", "0.5"),))] == 3
    assert samples[(bucket, (("le", "10.0"),))] == 3
    assert samples[(bucket, (("le", "+Inf"),))] == 4
    assert samples[("drip_webhook_publish_seconds_count", ())] == 4
    assert samples[("drip_webhook_publish_seconds_sum", ())] == pytest.approx(11.309)


def test_apps_do_not_share_counts() -> None:
    first, second = Metrics(), Metrics()
    first.request(200, "member.left")
    assert ("drip_webhook_requests_total", (("event_type", "member.left"), ("status", "200"))) \
        not in _samples(second)  # fmt: skip


def test_the_receiver_reports_its_restarts() -> None:
    assert b"drip_process_restarts 3.0" in Metrics(3).render()
    assert b"drip_process_restarts 0.0" in Metrics().render()
