"""The endpoint's guard: budgets by client address, a float compare while nobody is over
budget, and the header sweep's period."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.guard import RequestGuard
from bridge.protocol import sweep_period
from core.settings import Settings


def _guard(**overrides: Any) -> RequestGuard:
    settings = Settings(_env_file=None, webhook_secrets="guard-secret-123", **overrides)
    return RequestGuard(settings)


def _scope(peer: str, forwarded: bytes | None = None) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", forwarded)] if forwarded is not None else []
    return {"client": (peer, 5000), "headers": headers}


def test_failures_spend_the_budget_of_their_client_only() -> None:
    guard = _guard(failure_burst=2, failure_rate_per_s=1.0)
    attacker, other = _scope("127.0.0.2"), _scope("127.0.0.1")
    assert [guard.retry_after(attacker, 0.0) for _ in range(3)] == [0, 0, 1]
    assert guard.over_budget(attacker, 0.5)
    assert not guard.over_budget(other, 0.5)
    assert not guard.over_budget(attacker, 1.0)  # a token came back


def test_behind_a_trusted_proxy_the_forwarded_client_spends() -> None:
    guard = _guard(failure_burst=1, trusted_proxies="10.0.0.5")
    assert guard.retry_after(_scope("10.0.0.5", b"198.51.100.1"), 0.0) == 0
    assert guard.retry_after(_scope("10.0.0.5", b"198.51.100.1"), 0.0) > 0
    assert guard.retry_after(_scope("10.0.0.5", b"198.51.100.2"), 0.0) == 0
    # An untrusted peer's X-Forwarded-For is ignored: it spends its own budget.
    assert guard.retry_after(_scope("203.0.113.7", b"198.51.100.3"), 0.0) == 0
    assert guard.retry_after(_scope("203.0.113.7", b"198.51.100.4"), 0.0) > 0


@pytest.mark.parametrize(
    ("timeout_s", "period_s"), [(0.2, 0.1), (1.0, 0.25), (2.0, 0.5), (5.0, 1.0), (60.0, 1.0)]
)
def test_header_sweep_period(timeout_s: float, period_s: float) -> None:
    assert sweep_period(timeout_s) == period_s
