"""Test data: DRIP events shaped like the samples in DRIP's webhook guide, and signatures.

The guide's samples themselves live in :mod:`devstack.samples`, which the benchmarks use too.
"""

from __future__ import annotations

import copy
from typing import Any

from core.contract import signature_header
from devstack.samples import GUIDE_SAMPLES, GUIDE_TEST_POINTS, pretty_body

__all__ = [
    "GUIDE_SAMPLES",
    "GUIDE_TEST_POINTS",
    "TEST_SECRET",
    "make_event",
    "pretty_body",
    "sign",
]

TEST_SECRET = "test-webhook-secret-0123456789"


def make_event(event_type: str, **overrides: Any) -> dict[str, Any]:
    """A guide-shaped event of ``event_type``; top-level keys in ``overrides`` replace its own."""
    base = GUIDE_SAMPLES.get(event_type) or {
        "type": event_type,
        "timestamp": "2024-01-20T18:00:00Z",
        "realmId": "507f1f77bcf86cd799439011",
        "data": {"note": "custom event"},
    }
    event = copy.deepcopy(base)
    event.update(overrides)
    return event


def sign(body: bytes, secret: str = TEST_SECRET) -> str:
    """The ``X-Drip-Signature`` header value for ``body`` under the tests' secret."""
    return signature_header(body, secret)
