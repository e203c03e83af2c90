"""A stand-in for the receiver's publisher, for driving the webhook endpoint in process."""

from __future__ import annotations

from bridge.ingest import Record
from bridge.publisher import Ack


class RecordingPublisher:
    """Stands in for :class:`bridge.publisher.Publisher`: acknowledges every record and keeps it."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    async def publish(self, record: Record) -> Ack:
        self.records.append(record)
        return Ack(0, len(self.records) - 1)
