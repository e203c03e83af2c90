"""Records fetched from Kafka to a batch a group can apply: pure, no I/O.

Every record ends up in exactly one place: a mapped row for the group, or a dead letter naming
what was wrong with it. Records of partitions this process does not hold, or before the stored
offset (a fetch that raced a seek), are left out; they belong to another batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiokafka.structs import TopicPartition

from consumers.api import ConsumerGroup, Event, Planned
from consumers.engine.dead_letters import DeadLetter
from consumers.engine.offsets import Move
from core import contract
from core.contract import Envelope
from core.errors import UnusableEvent
from core.settings import Settings


class RecordLike(Protocol):
    """What the runtime reads from a Kafka record (aiokafka's ConsumerRecord has it)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp: int
    """Kafka's record time, in milliseconds since the epoch (-1 when unknown)."""


@dataclass(slots=True)
class Batch:
    """What one transaction applies: rows, dead letters, and the offsets they move."""

    rows: list[Any] = field(default_factory=list)
    sources: list[RecordLike] = field(default_factory=list)
    """The record each row was mapped from, index for index (for dead letters found later)."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    gaps: list[tuple[TopicPartition, int, int]] = field(default_factory=list)
    """(partition, stored offset, first offset read) where records were missing (retention)."""

    @property
    def records(self) -> int:
        return len(self.rows) + len(self.dead_letters)

    def next_offsets(self) -> dict[TopicPartition, int]:
        return {TopicPartition(m.topic, m.partition): m.next_offset for m in self.moves}


def to_event(record: RecordLike) -> Event:
    """Decode a record to an :class:`Event`; UnusableEvent when its value is not a JSON object.

    Identity and type come from the record headers; a record without them (not written by the
    receiver) gets the contract's identity of its body and the body's ``type``.
    """
    envelope = Envelope.from_record(
        record.topic,
        record.partition,
        record.offset,
        record.value,
        record.headers,
        record.timestamp,
    )
    payload = _decode(envelope.value)
    if type(payload) is not dict:
        raise UnusableEvent(f"the event is a JSON {type(payload).__name__}, not an object")
    if not envelope.event_id or not envelope.event_type:
        try:
            event_id = envelope.event_id or contract.event_identity(payload)
        except ValueError:  # an unpaired surrogate escape has no UTF-8 form to hash
            raise UnusableEvent("the record has no event id and its body no UTF-8 form") from None
        envelope = envelope._replace(
            event_id=event_id, event_type=envelope.event_type or str(payload.get("type") or "")
        )
    return tuple.__new__(Event, (envelope, payload))  # Event(...) without a Python-level call


def _decode(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as fast_error:
        # orjson refuses a few bodies that are JSON (integers beyond 64 bits, unpaired
        # surrogate escapes) and that the receiver accepted; the stdlib decoder reads them.
        try:
            payload = json.loads(value.decode("utf-8"))
        except (ValueError, RecursionError):
            raise UnusableEvent(f"the event is not JSON: {fast_error}") from None
        try:
            json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            # No group can store such a string: PostgreSQL text and jsonb are UTF-8.
            raise UnusableEvent("the event holds an unpaired UTF-16 surrogate escape") from None
        return payload


def dead_letter(record: RecordLike, error: str, event: Event | None = None) -> DeadLetter:
    """A dead letter for ``record``, with identity and type from ``event`` or its headers."""
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        event_id=event.event_id if event else _header(record, contract.Header.EVENT_ID),
        event_type=event.event_type if event else _header(record, contract.Header.EVENT_TYPE),
        error=error,
        payload=record.value or b"",
    )


def map_record(
    group: ConsumerGroup[Any], record: RecordLike, settings: Settings
) -> tuple[Any, DeadLetter | None]:
    """The group's row for ``record``, or a dead letter saying why there is none."""
    event: Event | None = None
    try:
        event = to_event(record)
        return group.rows_from(event, settings), None
    except UnusableEvent as exc:  # the only data error a mapping raises (consumers.engine.faults)
        return None, dead_letter(record, str(exc), event)


def _header(record: RecordLike, name: str) -> str | None:
    for key, raw in record.headers:
        if key == name:
            return raw.decode("utf-8", "replace")
    return None


def assemble(
    group: ConsumerGroup[Any],
    fetched: Mapping[TopicPartition, Sequence[RecordLike]],
    positions: Mapping[TopicPartition, int],
    settings: Settings,
) -> Batch:
    """Map fetched records into one batch, partition by partition in offset order.

    ``positions`` are the stored next offsets of the partitions this process holds; each
    partition's move starts there and ends after its last record taken. For a group with a
    ``plan``, the rows come as :class:`consumers.api.Planned`, statements included.
    """
    batch = Batch()
    for tp in sorted(fetched):
        stored = positions.get(tp)
        if stored is None:
            continue
        records = [r for r in fetched[tp] if r.offset >= stored]
        if not records:
            continue
        if records[0].offset > stored:
            batch.gaps.append((tp, stored, records[0].offset))
        rows, sources = batch.rows, batch.sources
        for record in records:
            row, dead = map_record(group, record, settings)
            if dead is None:
                rows.append(row)
                sources.append(record)
            else:
                batch.dead_letters.append(dead)
        batch.moves.append(Move(tp.topic, tp.partition, stored, records[-1].offset + 1))
    if batch.rows and group.plan is not None:
        batch.rows = Planned(batch.rows, group.plan(batch.rows, settings))
    return batch
