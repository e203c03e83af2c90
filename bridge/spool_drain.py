"""The way around an absent Kafka: publish directly, or spool and drain the spool later.

Delivery guarantee: at least once to Kafka. :meth:`SpoolRoute.deliver` returns only when the
record is acknowledged by Kafka (an :class:`~bridge.publisher.Ack`) or fsync'd into the spool
(:class:`Spooled`); the drainer removes a spooled record only after Kafka acknowledged it, so
a crash between the ack and the delete sends it again. A publish that timed out may also
reach Kafka later while its record is spooled too. Consumer groups count each event id once,
so both duplicates are harmless; a loss is not possible short of losing the disk.

Route of one record:
- Kafka present and the spool empty: publish, waiting up to the publisher's deadline.
- That publish times out or the producer is down (a retriable failure): Kafka is marked away
  and the record is spooled.
- Kafka away, or the spool holding anything: spool at once, so records queue behind the ones
  already spooled and keep their order per key.
- Kafka refuses the record for good (for example too large for the topic): the error is
  raised as before; spooling it would only stall the drain.

The drainer is one task. While the spool holds records it probes Kafka, backing off while the
probe fails; once Kafka answers it sends the oldest records in batches of ``batch`` through the
injected ``send`` (the publisher's, which waits for acks), removes each acknowledged record,
and when the spool is empty marks Kafka present again, so later records go directly. If part
of a batch fails, acknowledged records of it are removed and the rest is sent again after a
back-off; records of that batch can then land in Kafka out of order, which the consumers'
event-time guards tolerate. A spooled record Kafka refuses for good (the same test as above)
is moved to the file's ``refused`` table and logged with its event id: a dead letter for the
operator, rather than a drain stalled behind it for ever. While idle it claims, every
:data:`ORPHAN_SCAN_S`, spool files of receiver processes that ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, NamedTuple, TypeVar

from aiokafka.errors import (
    CorruptRecordException,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
)

from bridge.ingest import Record
from bridge.spool import Spool
from core.errors import ServiceUnavailable

log = logging.getLogger(__name__)

BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
"""Pauses between drain attempts while Kafka stays away (the last one repeats)."""

ORPHAN_SCAN_S = 30.0
"""How often an idle drainer looks for spool files of receiver processes that ended."""

A = TypeVar("A")
Send = Callable[[Record], Awaitable[Any]]
Probe = Callable[[], Awaitable[bool]]


class Spooled(NamedTuple):
    """A record kept in the spool, to be sent to Kafka when it is back."""

    event_id: str


REFUSALS = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    CorruptRecordException,
    UnsupportedForMessageFormatError,
)
"""Kafka errors that say something against the record itself; no retry can cure them."""


def goes_to_spool(exc: ServiceUnavailable) -> bool:
    """Whether a failed publish leaves the record to be sent again, rather than refused for good.

    Only the errors in :data:`REFUSALS` refuse a record. Anything else (a timeout, a producer
    not running, a lost connection, a leader moving, and producer-state errors such as an
    idempotent sequence broken by batches that expired during an outage, after which the
    publisher starts a new producer) says nothing against the record: it stays in the spool.
    """
    cause = exc.__cause__
    return not isinstance(cause, REFUSALS)


class SpoolRoute(Generic[A]):
    """Decides per record between Kafka and the spool, and drains the spool into Kafka.

    ``publish`` is the direct path (waits for the ack within its deadline); ``send`` is what
    the drainer publishes with (usually the same); ``probe`` answers whether Kafka is back.
    """

    def __init__(
        self,
        spool: Spool,
        publish: Callable[[Record], Awaitable[A]],
        probe: Probe,
        *,
        send: Send | None = None,
        batch: int = 500,
        backoff_s: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        self.spool = spool
        self._publish = publish
        self._send: Send = send if send is not None else publish
        self._probe = probe
        self._batch = batch
        self._backoff_s = backoff_s
        self._away = bool(spool.depth)
        self._direct = asyncio.Event()
        if not self._away:
            self._direct.set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.send_failures = 0
        """Spooled records sent without getting Kafka's ack (they stay spooled)."""

    @property
    def away(self) -> bool:
        """True while records go to the spool rather than directly to Kafka: from a failed
        publish, or from spooled records found (at start, or claimed from an ended process),
        until the drainer has emptied the spool."""
        return self._away

    async def deliver(self, record: Record) -> A | Spooled:
        """Kafka's ack for ``record``, or :class:`Spooled` once it is durable in the spool.

        Raises SpoolFull (a ServiceUnavailable) when the spool has no room, SpoolError when
        the disk fails, and the publisher's ServiceUnavailable when Kafka refused the record.
        """
        if not self.away:
            try:
                return await self._publish(record)
            except ServiceUnavailable as exc:
                if not goes_to_spool(exc):
                    raise
                if not self._away:
                    log.warning("Kafka is away (%s); spooling records until it is back", exc)
                self._away = True
        self._direct.clear()
        await self.spool.append(record)
        self._wake.set()
        return Spooled(record.event_id)

    def start(self) -> None:
        """Start the drainer (it drains at once what an earlier process left)."""
        self._task = asyncio.get_running_loop().create_task(self._drain_forever())

    async def stop(self) -> None:
        """Stop the drainer; what is still spooled stays on disk for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_direct(self) -> None:
        """Return once the spool is empty and records go directly to Kafka again."""
        while self.away:
            await self._direct.wait()

    async def _drain_forever(self) -> None:
        attempt = 0
        while True:
            try:
                progressed = await self._step()
            except Exception as exc:  # a disk error must not end the drainer for good
                log.error("draining the spool failed (%s); trying again", exc)
                progressed = False
            if progressed:
                attempt = 0
            else:
                await asyncio.sleep(self._backoff_s[min(attempt, len(self._backoff_s) - 1)])
                attempt += 1

    async def _step(self) -> bool:
        """One round of the drainer; False when it should back off."""
        if self.spool.empty:
            if self._away and not await self._probe():
                return False
            if self.spool.empty:  # no await since the check: no append slipped in
                if self._away:
                    log.info("the spool is empty and Kafka answers; publishing directly")
                self._away = False
                self._direct.set()
                await self._wait_for_work()
            return True
        if not await self._probe():
            return False
        return await self._drain_batch()

    async def _wait_for_work(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ORPHAN_SCAN_S):
                await self._wake.wait()
                return
        await self.spool.claim_orphans()
        if not self.spool.empty:  # new records queue behind the claimed ones
            self._away = True
            self._direct.clear()

    async def _drain_batch(self) -> bool:
        """Send the oldest records and remove the answered ones; False if any must wait."""
        batch = await self.spool.oldest(self._batch)
        if not batch:
            await self.spool.flush()  # appends still in their commit
            return True
        outcomes = await asyncio.gather(
            *(self._send(spooled.record) for spooled in batch), return_exceptions=True
        )
        acked, refused, waiting = [], [], []
        for spooled, outcome in zip(batch, outcomes, strict=True):
            if not isinstance(outcome, BaseException):
                acked.append(spooled)
            elif isinstance(outcome, ServiceUnavailable) and not goes_to_spool(outcome):
                refused.append((spooled, outcome))
            else:
                waiting.append(outcome)
        await self.spool.remove(acked)
        for spooled, error in refused:
            log.error(
                "Kafka refused the spooled event %s for good (%s); it is kept in the refused "
                "table of %s",
                spooled.record.event_id,
                error,
                spooled.source,
            )
            await self.spool.remove([spooled], refused=str(error))
        if waiting:
            self.send_failures += len(waiting)
            log.warning(
                "%d spooled records not acknowledged yet (%r); retrying", len(waiting), waiting[0]
            )
        return not waiting
