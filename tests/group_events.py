"""Events as a consumer group receives them, built from payloads without going through Kafka."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from consumers.api import Event
from core import contract
from core.contract import Envelope

RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
"""The receive stamp of every event built here: after every sample's own time, so none is
ahead of it (the groups dead-letter an event far ahead of its receive time)."""

DELETE = object()
"""Pass as a value to :func:`with_field` to remove the field."""


def group_event(payload: Mapping[str, Any], event_id: str | None = None, offset: int = 0) -> Event:
    """``payload`` wrapped as the runtime hands it to ``rows_from``; id from the contract."""
    event_type = str(payload.get("type", ""))
    envelope = Envelope(
        topic=contract.topic_for("test", event_type),
        partition=0,
        offset=offset,
        event_id=event_id if event_id is not None else contract.event_identity(payload),
        event_type=event_type,
        received_at=RECEIVED_AT,
        value=orjson.dumps(payload),
    )
    return Event(envelope=envelope, payload=dict(payload))


def with_field(payload: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``payload`` with the dotted ``path`` set to ``value`` (or removed)."""
    result = copy.deepcopy(dict(payload))
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return result


def field_case(payload: Mapping[str, Any], path: str, value: Any, *expected: Any) -> Any:
    """A ``pytest.param`` of ``payload`` with ``path`` set to ``value``, and ``expected``, whose
    id says what it tests: ``member.points.awarded:data.newBalance=2**63``."""
    shown = "deleted" if value is DELETE else _shown(value)
    event_type = str(payload.get("type", ""))
    return pytest.param(
        with_field(payload, path, value), *expected, id=f"{event_type}:{path}={shown}"
    )


def _shown(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 2**32:
        return (
            f"2**{value.bit_length() - 1}" if value == 2 ** (value.bit_length() - 1) else str(value)
        )
    return orjson.dumps(value).decode() if not isinstance(value, str) else value
