"""Steady signed load for the fault suite: guide-shaped events with unique ids, each answer kept.

Unlike the Go load generator (``bench/loadgen``), which counts answers, this one remembers the
answer to every event id: the exactly-once check (``bench/faults_check.py``) needs to know
which events were acknowledged. A few hundred events per second is all the fault suite asks,
which one asyncio loop with httpx sends with room to spare.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from bridge.app import WEBHOOK_PATH
from core.contract import EventType
from core.contract import signature_header as sign
from devstack.samples import DEMO_REALM, object_id, pretty_body, sample_event

EVENT_TYPES = (
    EventType.POINTS_AWARDED.value,
    EventType.QUEST_COMPLETED.value,
    EventType.PURCHASE_COMPLETED.value,
)
"""The types sent, in turn: each has a group that stores it by event id besides the archive."""

MEMBERS = 500
"""Members the events are spread over (a realm's active members during a run)."""

CLIENTS = 64
CONNECTIONS_PER_CLIENT = 4
"""Requests in flight: CLIENTS x CONNECTIONS_PER_CLIENT keep-alive connections, spread over
many small httpx clients. One client with a large pool spends time quadratic in its size on
every request (httpcore matches each waiting request against each connection, in Python); at
a few hundred requests per second that, not the receiver, set the rate. Arrivals beyond the
connections wait on a semaphore, and are still scheduled by the clock, not by answers: a
receiver stalled for a publish timeout (5 s) at 200/s holds a thousand of them."""

REQUEST_TIMEOUT_S = 30.0
"""Longest wait for one answer, as DRIP's own delivery timeout; a later answer counts as none."""

BACKLOG_S = 10.0
"""Arrivals waiting for a free connection, in seconds of load, beyond which new arrivals are
skipped (counted, never sent): on a machine too busy to send the rate, the run slows down
instead of queueing without bound, and the achieved rate is reported."""

TICK_S = 0.01
"""Arrivals are released in ticks this long (asyncio sleeps are not finer than a millisecond or
two on a loaded machine)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to one event: the HTTP status (0: no answer, connection refused or timed out),
    whether a 200 said it was spooled, the Retry-After of a 503, and when the request was sent
    (monotonic seconds) and how long its answer took."""

    event_id: str
    event_type: str
    status: int
    spooled: bool = False
    retry_after: str | None = None
    sent_at: float = 0.0
    latency_s: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.status == 200


def signed_event(
    run_id: str, number: int, member: str, rng: random.Random, secret: str
) -> tuple[str, str, bytes, str]:
    """(event id, type, body, signature header) of the ``number``-th event of a run."""
    event_type = EVENT_TYPES[number % len(EVENT_TYPES)]
    now = datetime.now(UTC)
    event = sample_event(event_type, realm=DEMO_REALM, member=member, rng=rng, now=now)
    event_id = f"{run_id}-{number:07d}"
    event["id"] = event_id
    body = pretty_body(event)
    return event_id, event_type, body, sign(body, secret)


class Load:
    """Sends ``rate`` signed events per second to a receiver until stopped; keeps each answer."""

    def __init__(self, port: int, secret: str, run_id: str, rate: float) -> None:
        self.url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        self.secret = secret
        self.run_id = run_id
        self.rate = rate
        self.outcomes: list[Outcome] = []
        self.skipped = 0
        self.seconds = 0.0
        self._waiting = 0
        self._rng = random.Random(run_id)
        joined = datetime(2024, 1, 1, tzinfo=UTC)
        self._members = [object_id(self._rng, joined) for _ in range(MEMBERS)]
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(CLIENTS * CONNECTIONS_PER_CLIENT)

    def stop(self) -> None:
        """Stop sending; answers still awaited are kept when they come."""
        self._stop.set()

    async def run(self, seconds: float) -> list[Outcome]:
        """Send for ``seconds`` (or until :meth:`stop`), then wait for the answers in flight."""
        limits = httpx.Limits(
            max_connections=CONNECTIONS_PER_CLIENT, max_keepalive_connections=CONNECTIONS_PER_CLIENT
        )
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=timeout))
                for _ in range(CLIENTS)
            ]
            in_flight: set[asyncio.Task[None]] = set()
            started = time.monotonic()
            sent = 0
            while not self._stop.is_set():
                elapsed = time.monotonic() - started
                if elapsed >= seconds:
                    break
                due = int(elapsed * self.rate) + 1
                while sent < due:
                    if self._waiting > BACKLOG_S * self.rate:
                        self.skipped += due - sent
                        sent = due
                        break
                    task = asyncio.create_task(self._send(clients[sent % CLIENTS], sent))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    sent += 1
                await asyncio.sleep(TICK_S)
            self.seconds = time.monotonic() - started
            if in_flight:
                await asyncio.wait(in_flight)
        return self.outcomes

    @property
    def sent_per_s(self) -> float:
        return len(self.outcomes) / self.seconds if self.seconds else 0.0

    async def _send(self, client: httpx.AsyncClient, number: int) -> None:
        event_id, event_type, body, signature = signed_event(
            self.run_id, number, self._rng.choice(self._members), self._rng, self.secret
        )
        headers = {"Content-Type": "application/json", "X-Drip-Signature": signature}
        self._waiting += 1
        try:
            async with self._slots:
                self._waiting -= 1
                if self._stop.is_set():
                    return  # arrived after the end of the load: never sent, not counted
                sent_at = time.monotonic()
                answer = await client.post(self.url, content=body, headers=headers)
                latency_s = time.monotonic() - sent_at
        except httpx.HTTPError:
            self.outcomes.append(Outcome(event_id, event_type, 0))
            return
        spooled = answer.status_code == 200 and b'"spooled":true' in answer.content
        self.outcomes.append(
            Outcome(
                event_id,
                event_type,
                answer.status_code,
                spooled=spooled,
                retry_after=answer.headers.get("retry-after"),
                sent_at=sent_at,
                latency_s=latency_s,
            )
        )
