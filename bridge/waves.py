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
        self._wave: list[tuple[Record, asyncio.Future[Any]]] = []
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
        self._wave.append((record, waiter))
        if len(self._wave) == 1:
            loop.call_later(self._window_s, self._release)
            loop.call_later(self._timeout_s, _expire, self._wave, self._late)
        return waiter

    async def drain(self) -> None:
        """Send what is collected now and wait until every wave was handed over."""
        self._release()
        while self._leaving:
            await asyncio.gather(*self._leaving, return_exceptions=True)

    def _release(self) -> None:
        if not self._wave:
            return
        wave, self._wave = self._wave, []
        task = asyncio.get_running_loop().create_task(self._leave(wave))
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    async def _leave(self, wave: list[tuple[Record, asyncio.Future[Any]]]) -> None:
        for record, waiter in wave:
            if waiter.done():  # its publish gave up already
                continue
            try:
                delivery = await self._send(record)
            except Exception as exc:
                if not waiter.done():
                    waiter.set_exception(exc)
                continue
            delivery.add_done_callback(functools.partial(_relay, waiter))


def _expire(wave: list[tuple[Record, asyncio.Future[Any]]], late: Callable[[], Exception]) -> None:
    for _, waiter in wave:
        if not waiter.done():
            waiter.set_exception(late())


def _relay(waiter: asyncio.Future[Any], delivery: asyncio.Future[Any]) -> None:
    if waiter.done():
        return
    if delivery.cancelled():
        waiter.cancel()
    elif (exc := delivery.exception()) is not None:
        waiter.set_exception(exc)
    else:
        waiter.set_result(delivery.result())
