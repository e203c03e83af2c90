"""Failure budgets: token buckets per client, bounded memory, and who the client is."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bridge.ratelimit import FailureBudget, client_address, parse_networks
from core.settings import Settings


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        # burst 3 at 1/s: three failures paid at once, the fourth refused for 1 s
        ([0, 0, 0, 0], [0, 0, 0, 1.0]),
        # a refused failure spends nothing: the next token still comes 1 s after emptying
        ([0, 0, 0, 0.5, 1.0], [0, 0, 0, 0.5, 0]),
        # tokens refill at the rate, never beyond the burst
        ([0, 0, 0, 10, 10, 10, 10], [0, 0, 0, 0, 0, 0, 1.0]),
        ([0, 0, 0, 2, 2, 2], [0, 0, 0, 0, 0, 1.0]),
    ],
)
def test_spend_answers_wait_once_the_burst_is_spent(
    times: list[float], expected: list[float]
) -> None:
    budget = FailureBudget(rate_per_s=1.0, burst=3, max_clients=10)
    assert [budget.spend("a", t) for t in times] == pytest.approx(expected)


def test_clients_have_budgets_of_their_own() -> None:
    budget = FailureBudget(rate_per_s=1.0, burst=1, max_clients=10)
    assert budget.spend("a", 0) == 0
    assert budget.spend("a", 0) > 0
    assert budget.spend("b", 0) == 0
    assert budget.wait("a", 0) > 0 and budget.wait("c", 0) == 0


def test_blocked_until_tells_when_no_client_can_be_over_budget() -> None:
    budget = FailureBudget(rate_per_s=2.0, burst=2, max_clients=10)
    assert budget.blocked_until == float("-inf")
    budget.spend("a", 10.0)
    assert budget.blocked_until == float("-inf")  # one token left
    budget.spend("a", 10.0)
    assert budget.blocked_until == pytest.approx(10.5)
    assert budget.wait("a", 10.25) == pytest.approx(0.25)
    assert budget.wait("a", 10.5) == 0


def test_memory_is_bounded_dropping_the_least_recently_failing() -> None:
    budget = FailureBudget(rate_per_s=1.0, burst=1, max_clients=2)
    for client in ("a", "b"):
        budget.spend(client, 0)
    budget.spend("a", 0)  # "a" failed last, so "b" is the oldest
    budget.spend("c", 0)
    assert len(budget) == 2
    assert budget.wait("a", 0) > 0 and budget.wait("b", 0) == 0


@pytest.mark.parametrize(
    ("rate", "burst", "clients"), [(0, 1, 1), (1, 0, 1), (1, 1, 0), (-1, 5, 5)]
)
def test_nonsense_limits_are_refused(rate: float, burst: int, clients: int) -> None:
    with pytest.raises(ValueError):
        FailureBudget(rate, burst, clients)


_PROXIES = parse_networks(["10.0.0.5", "192.168.0.0/16", "::1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "expected"),
    [
        ("203.0.113.9", [b"1.2.3.4"], (), "203.0.113.9"),  # no trusted proxies: the peer
        ("203.0.113.9", [b"1.2.3.4"], _PROXIES, "203.0.113.9"),  # untrusted peer: XFF ignored
        ("10.0.0.5", [b"1.2.3.4"], _PROXIES, "1.2.3.4"),
        # a client's own X-Forwarded-For entries (left) are not believed
        ("10.0.0.5", [b"6.6.6.6, 1.2.3.4"], _PROXIES, "1.2.3.4"),
        # proxies in a chain are skipped from the right
        ("10.0.0.5", [b"1.2.3.4, 192.168.7.7"], _PROXIES, "1.2.3.4"),
        ("10.0.0.5", [b"6.6.6.6", b"1.2.3.4, 192.168.1.1"], _PROXIES, "1.2.3.4"),
        ("::1", [b"2001:db8::7"], _PROXIES, "2001:db8::7"),
        # nothing usable forwarded: the proxy is its own client
        ("10.0.0.5", [], _PROXIES, "10.0.0.5"),
        ("10.0.0.5", [b"192.168.1.1"], _PROXIES, "10.0.0.5"),
        ("10.0.0.5", [b"not-an-address"], _PROXIES, "10.0.0.5"),
    ],
)
def test_client_address(
    peer: str, forwarded: list[bytes], proxies: tuple[object, ...], expected: str
) -> None:
    assert client_address(peer, forwarded, proxies) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", []),
        ("10.0.0.5", ["10.0.0.5"]),
        (" 10.0.0.5 , 10.1.0.0/16 ", ["10.0.0.5", "10.1.0.0/16"]),
    ],
)
def test_trusted_proxies_setting_splits_by_comma(raw: str, expected: list[str]) -> None:
    settings = Settings(_env_file=None, trusted_proxies=raw)  # type: ignore[call-arg]
    assert settings.trusted_proxies == expected


def test_a_trusted_proxy_that_is_no_address_names_the_setting() -> None:
    with pytest.raises(ValidationError, match=r"DRIP_TRUSTED_PROXIES: 'proxy\.internal'"):
        Settings(_env_file=None, trusted_proxies="10.0.0.5,proxy.internal")  # type: ignore[call-arg]
