"""Records handed to the producer in waves, one produce request per linger window.

At thousands of requests per second a publish costs most in produce requests, not in its own
work: see docs/performance.md ("Waves").
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.ingest import Record

Sender = Callable[[Record], Awaitable["asyncio.Future[Any]"]]


class Waves:
    """Collects records for up to ``window_s``, then hands them to the producer together.

    aiokafka lingers per partition: each partition's batch leaves ``linger_ms`` after its own
    first record, so records spread over the contract's many topic-partitions go out in
    almost one produce request each, and a produce request (with the broker wake-up it
    causes) costs far more than a record. Handed over together, a wave's records leave in
    one request. One task sends the wave, so each waiting publisher is woken once, when its
    ack (or error) comes.
    """

    def __init__(
        self, window_s: float, send: Sender, timeout_s: float, late: Callable[[], Exception]
    ) -> None:
        self._window_s = window_s
        self._send = send
        self._timeout_s = timeout_s
        self._late = late
        self._wave = _Wave()
        self._leaving: set[asyncio.Task[None]] = set()

    def submit(self, record: Record) -> asyncio.Future[Any]:
        """A future resolved with the record's metadata once Kafka acknowledged it, or failed
        with ``late()`` when no ack came within ``timeout_s`` of its wave's start.

        One timer per wave keeps the deadline of all its records (docs/performance.md,
        "Deadlines"). A record whose future is done (failed, cancelled) before its wave
        leaves is not sent.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        wave = self._wave
        wave.entries.append((record, waiter))
        if len(wave.entries) == 1:
            loop.call_later(self._window_s, self._release)
            wave.deadline = loop.call_later(self._timeout_s, _expire, wave, self._late)
        return waiter

    async def drain(self) -> None:
        """Send what is collected now and wait until every wave was handed over."""
        self._release()
        while self._leaving:
            await asyncio.gather(*self._leaving, return_exceptions=True)

    def _release(self) -> None:
        if not self._wave.entries:
            return
        wave, self._wave = self._wave, _Wave()
        wave.unsettled = len(wave.entries)
        task = asyncio.get_running_loop().create_task(self._leave(wave))
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    async def _leave(self, wave: _Wave) -> None:
        for record, waiter in wave.entries:
            if waiter.done():  # its publish gave up already
                wave.settle()
                continue
            try:
                delivery = await self._send(record)
            except Exception as exc:
                if not waiter.done():
                    waiter.set_exception(exc)
                wave.settle()
                continue
            delivery.add_done_callback(functools.partial(_relay, waiter, wave))


class _Wave:
    """The records of one window, and the timer that fails those still without an ack."""

    __slots__ = ("deadline", "entries", "unsettled")

    def __init__(self) -> None:
        self.entries: list[tuple[Record, asyncio.Future[Any]]] = []
        self.deadline: asyncio.TimerHandle | None = None
        self.unsettled = 0
        """Records handed over whose delivery has not finished yet."""

    def settle(self) -> None:
        """One record's delivery finished; the last one cancels the deadline, which frees the
        wave at once rather than at its deadline (docs/performance.md, "Deadlines")."""
        self.unsettled -= 1
        if self.unsettled == 0 and self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None


def _expire(wave: _Wave, late: Callable[[], Exception]) -> None:
    wave.deadline = None
    for _, waiter in wave.entries:
        if not waiter.done():
            waiter.set_exception(late())


def _relay(waiter: asyncio.Future[Any], wave: _Wave, delivery: asyncio.Future[Any]) -> None:
    wave.settle()
    if waiter.done():
        return
    if delivery.cancelled():
        waiter.cancel()
    elif (exc := delivery.exception()) is not None:
        waiter.set_exception(exc)
    else:
        waiter.set_result(delivery.result())
