"""Deadlines of slow clients, checked by one periodic sweep instead of a timer each.

A timer per request (``loop.call_later`` and its cancel) costs about 2 us; starting and
finishing a deadline here is a dict store and a dict pop (about 0.3 us), and one sweep per
``period_s`` finds what is overdue. A deadline thus fires between ``limit_s`` and
``limit_s + period_s`` after it started.

:class:`Deadlines` is pure (the caller passes the clock); :class:`Sweep` runs its sweep
on an event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

_MIN_PERIOD_S = 0.1
_MAX_PERIOD_S = 1.0


def sweep_period(limit_s: float) -> float:
    """How often to sweep deadlines of ``limit_s``: a quarter of it, within 0.1-1 s."""
    return min(_MAX_PERIOD_S, max(_MIN_PERIOD_S, limit_s / 4))


class Deadlines(Generic[K]):
    """Keys that must finish within ``limit_s`` of starting."""

    def __init__(self, limit_s: float) -> None:
        if limit_s <= 0:
            raise ValueError("limit_s must be positive")
        self.limit_s = limit_s
        self._due: dict[K, float] = {}

    def __len__(self) -> int:
        return len(self._due)

    def start(self, key: K, now: float) -> None:
        """``key`` must finish by ``now + limit_s`` (a running deadline is left as it is)."""
        if key not in self._due:
            self._due[key] = now + self.limit_s

    def restart(self, key: K, now: float) -> None:
        """``key`` must finish by ``now + limit_s``, whatever it had before."""
        self._due[key] = now + self.limit_s

    def finish(self, key: K) -> None:
        """``key`` finished (or was abandoned); forgetting an unknown key is fine."""
        self._due.pop(key, None)

    def expired(self, now: float) -> list[K]:
        """Keys past their deadline, forgotten as they are returned."""
        late = [key for key, due in self._due.items() if due <= now]
        for key in late:
            del self._due[key]
        return late


class Sweep(Generic[K]):
    """Calls ``on_expired`` for each overdue key of ``deadlines`` every ``sweep_period``.

    ``clock`` is the one the deadlines were started with (the loop's by default).

    One failing callback does not stop the sweeps: each key is handled apart (a failure goes
    to the loop's exception handler), and the next sweep is always scheduled.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deadlines: Deadlines[K],
        on_expired: Callable[[K], None],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._loop = loop
        self._clock = clock or loop.time
        self._deadlines = deadlines
        self._on_expired = on_expired
        self._period = sweep_period(deadlines.limit_s)
        self._stopped = False
        self._handle = loop.call_later(self._period, self._sweep)

    def _sweep(self) -> None:
        try:
            for key in self._deadlines.expired(self._clock()):
                try:
                    self._on_expired(key)
                except Exception as exc:  # one broken key must not stop the sweeps
                    self._loop.call_exception_handler(
                        {"message": "deadline callback failed", "exception": exc}
                    )
        finally:
            if not self._stopped:
                self._handle = self._loop.call_later(self._period, self._sweep)

    def stop(self) -> None:
        """No more sweeps."""
        self._stopped = True
        self._handle.cancel()
