"""Stored offsets committed back to Kafka, for Kafka's own tools only.

Reading always starts from the offsets in PostgreSQL (:mod:`consumers.engine.offsets`); Kafka's
committed offsets are kept roughly in step so that ``kafka-consumer-groups`` and the like show
the group's lag. They are committed at most once a second, best effort, and in a task of their
own: a commit waits for the group coordinator (about 20 ms on a local broker), and the runtime
must not keep PostgreSQL waiting for the next batch meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

log = logging.getLogger(__name__)

COMMIT_EVERY_S = 1.0


class KafkaCommits:
    """Offsets stored in PostgreSQL, waiting to be committed to Kafka for one group."""

    def __init__(self, group_name: str) -> None:
        self.group_name = group_name
        self._pending: dict[TopicPartition, int] = {}
        self._committed_at = 0.0
        self._task: asyncio.Task[None] | None = None

    async def moved(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int], force: bool = False
    ) -> None:
        """Note ``offsets`` as stored; commit what is noted if a second has passed (or
        ``force``). Unless forced the commit runs in a task and this returns at once."""
        self._pending.update(offsets)
        now = time.monotonic()
        if not self._pending or (not force and now - self._committed_at < COMMIT_EVERY_S):
            return
        if not force and self._task is not None and not self._task.done():
            return  # the previous commit is still on its way; these offsets go with the next
        assigned = consumer.assignment()
        pending = {tp: o for tp, o in self._pending.items() if tp in assigned}
        self._pending, self._committed_at = {}, now
        if not pending:
            return
        if force:
            await self._commit(consumer, pending)
        else:
            self._task = asyncio.create_task(self._commit(consumer, pending))

    async def settled(self, cancel: bool = False) -> None:
        """Wait for the commit still running, if any (cancel it first when ``cancel``)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            if cancel:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await asyncio.wait_for(consumer.commit(offsets), timeout=5)
        except (KafkaError, TimeoutError) as exc:
            log.info("group %s: Kafka offset commit skipped (%r)", self.group_name, exc)
