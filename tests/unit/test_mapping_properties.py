"""Any JSON a verified event can hold maps to a row or a dead letter, never to a crash.

The line between data and bugs (``consumers/faults.py``) holds only if a mapping raises nothing
but ``UnusableEvent`` for bad data: any other exception ends the group's process. Hypothesis
builds events from the guide's samples with fields replaced by arbitrary JSON values.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers import registry
from consumers.engine.decode import map_record
from core import contract
from core.settings import Settings
from tests.factories import GUIDE_SAMPLES
from tests.group_events import RECEIVED_AT

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["", " ", "2024-01-20T15:45:00Z", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00",
         "2999-01-01T00:00:00Z", "2024-13-01", "24:00", "a\x00b"]
    )
)  # fmt: skip
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    return found


_SAMPLE_PATHS = [(t, p) for t, sample in GUIDE_SAMPLES.items() for p in _paths(sample)]


class _Record:
    def __init__(self, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.topic, self.partition, self.offset, self.timestamp = topic, 0, 0, -1
        self.value: bytes | None = value
        self.headers: Sequence[tuple[str, bytes]] = headers


def _map_everywhere(event_type: str, event: dict[str, Any]) -> None:
    try:
        value = orjson.dumps(event)
    except TypeError:  # integers beyond 64 bits: the stdlib writes them as the receiver keeps them
        value = json.dumps(event).encode()
    headers = contract.build_headers("evt", event_type, None, RECEIVED_AT, "raw")
    record = _Record(contract.topic_for("t", event_type), value, headers)
    for group in registry.all_groups():
        if record.topic in group.topics("t"):
            row, dead = map_record(group, record, SETTINGS)  # raises on anything but bad data
            assert (row is None) != (dead is None)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(_SAMPLE_PATHS), _JSON)
def test_any_value_at_any_field_maps_or_dead_letters(
    path: tuple[str, tuple[str, ...]], value: Any
) -> None:
    event_type, keys = path
    event = copy.deepcopy(GUIDE_SAMPLES[event_type])
    node = event
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    _map_everywhere(event_type, event)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(sorted(GUIDE_SAMPLES)), st.dictionaries(st.text(max_size=10), _JSON, max_size=6)
)
def test_any_object_maps_or_dead_letters(event_type: str, event: dict[str, Any]) -> None:
    _map_everywhere(event_type, event)
