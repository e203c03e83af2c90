"""The webhook endpoint's defence against abusive clients: a failure budget per client.

It costs a valid delivery a comparison and a clock read it already made: the client's address
is looked up only when a request failed, or while some client is over its budget.
"""

from __future__ import annotations

import math
from typing import Any

from bridge.ratelimit import FailureBudget, client_address, parse_networks
from core.settings import Settings

Scope = dict[str, Any]

BUDGETED_STATUSES = frozenset({400, 401, 413})
"""Failed requests that spend a client's budget; other statuses never do."""


class RequestGuard:
    """Per-client failure budgets of one endpoint.

    Clock: ``time.perf_counter`` seconds, which the endpoint reads once per request anyway.
    """

    def __init__(self, settings: Settings) -> None:
        self._budget = FailureBudget(
            settings.failure_rate_per_s, settings.failure_burst, settings.failure_clients_max
        )
        self._proxies = parse_networks(settings.trusted_proxies)

    def client(self, scope: Scope) -> str:
        """The client a budget is kept for: the peer, or X-Forwarded-For behind a trusted proxy."""
        peer = scope["client"][0] if scope.get("client") else ""
        if not self._proxies:
            return str(peer)
        forwarded = [value for name, value in scope["headers"] if name == b"x-forwarded-for"]
        return client_address(peer, forwarded, self._proxies)

    def over_budget(self, scope: Scope, now: float) -> bool:
        """True when the client has no failure left to spend (a float compare while none has)."""
        if now >= self._budget.blocked_until:
            return False
        return self._budget.wait(self.client(scope), now) > 0

    def retry_after(self, scope: Scope, now: float) -> int:
        """Count a failed request; 0 when the client's budget paid for it, else the seconds of
        ``Retry-After`` to answer 429 with."""
        wait = self._budget.spend(self.client(scope), now)
        return math.ceil(wait) if wait else 0
