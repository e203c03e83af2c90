"""How long a publish may wait for its ack: one sweep per tick rather than a timer per publish.

At thousands of requests per second, ``asyncio.timeout`` would allocate and free an event-loop
timer for every publish; :class:`Deadlines` keeps one dictionary and one sweeping task.
"""

from __future__ import annotations

import asyncio
import contextlib
import time


class Deadlines:
    """Cancels publishes that outlive ``timeout_s``, checked every tick.

    One sweep every ``tick_s`` instead of a timer per request (``asyncio.timeout`` allocates
    and frees an event-loop timer for each publish). A publish may so run up to one tick
    past its deadline.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._tick_s = min(0.1, timeout_s / 10)
        self._waiting: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="publish-deadlines")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    def watch(self, task: asyncio.Task[object]) -> None:
        """Start the clock for ``task``."""
        self._waiting[task] = time.monotonic() + self.timeout_s

    def release(self, task: asyncio.Task[object]) -> bool:
        """Stop watching ``task``; True (and the cancellation undone) if it ran out of time."""
        self._waiting.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            task.uncancel()
            return True
        return False

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            now = time.monotonic()
            late = [task for task, deadline in self._waiting.items() if deadline <= now]
            for task in late:
                del self._waiting[task]
                self._expired.add(task)
                task.cancel()
