"""A failure budget per client: who the client is, and how many failed requests it may make.

Only failed requests (401, 400, 413) spend the budget; a valid delivery never looks at it.
Each client has a token bucket: ``burst`` tokens, refilled at ``rate_per_s``. A failure that
finds a token spends it and gets its own answer; one that finds none is answered 429 with
``Retry-After``, and while its bucket is empty the receiver skips costly work for the
client's failures (the compact-form signature check).

Memory is bounded: at most ``max_clients`` buckets, the least recently failing dropped first
(a dropped client starts again with a full bucket).

Pure: the caller passes the clock (any monotonic seconds) and the request's addresses.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class FailureBudget:
    """Token buckets of failed requests, one per client, at most ``max_clients`` of them."""

    def __init__(self, rate_per_s: float, burst: int, max_clients: int) -> None:
        if rate_per_s <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate_per_s > 0, burst >= 1 and max_clients >= 1 are required")
        self._rate = rate_per_s
        self._burst = float(burst)
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.blocked_until = float("-inf")
        """No client is over budget from this time on: before it, check :meth:`wait`."""

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, bucket: _Bucket, now: float) -> float:
        return min(self._burst, bucket.tokens + (now - bucket.stamp) * self._rate)

    def wait(self, client: str, now: float) -> float:
        """Seconds until ``client`` has a token again; 0 when it is within its budget."""
        bucket = self._buckets.get(client)
        if bucket is None:
            return 0.0
        tokens = self._tokens(bucket, now)
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate

    def spend(self, client: str, now: float) -> float:
        """Count one failed request of ``client``.

        Returns 0 when a token paid for it (answer the failure's own status), otherwise the
        seconds until the next token (answer 429 with that ``Retry-After``).
        """
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            self._buckets[client] = bucket
            if len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
        tokens = self._tokens(bucket, now)
        bucket.stamp = now
        refused = tokens < 1
        bucket.tokens = tokens if refused else tokens - 1
        wait = 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self._rate
        if wait:
            self.blocked_until = max(self.blocked_until, now + wait)
        return wait if refused else 0.0


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks (``10.0.0.0/8``); ValueError naming a bad entry."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str, forwarded_for: Sequence[bytes], proxies: Sequence[Network]) -> str:
    """The address a failure budget is kept for.

    The socket ``peer`` itself, unless it is a trusted proxy: then the right-most address of
    the ``X-Forwarded-For`` values (in header order) that is not a trusted proxy, since every
    address left of the last untrusted one could have been written by the client itself.
    A trusted peer that forwarded no usable address is its own client.
    """
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.decode("latin-1").split(",")]
    for hop in reversed(hops):
        if not hop:
            continue
        if not _trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer
