"""Delays between retries of a failing step: exponential, capped, and reset by a success.

A transient error (a lost connection, a broker that does not answer) is retried, never
skipped; the delay doubles with each failure in a row so that a service that is down is not
hammered, and starts small again once a step succeeds.
"""

from __future__ import annotations


class Backoff:
    """Exponential delays between retries, capped; reset after a success."""

    def __init__(self, first_s: float = 0.2, cap_s: float = 30.0) -> None:
        self.first_s, self.cap_s = first_s, cap_s
        self._next_s = first_s

    def next(self) -> float:
        delay, self._next_s = self._next_s, min(self._next_s * 2, self.cap_s)
        return delay

    def reset(self) -> None:
        self._next_s = self.first_s
