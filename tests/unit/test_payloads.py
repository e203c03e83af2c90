"""The payload models of the topic document: guide samples fit, their fields are required."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from core.contract import OTHER, EventType
from core.payloads import PAYLOADS
from tests.factories import GUIDE_SAMPLES, GUIDE_TEST_POINTS, make_event

OPTIONAL: dict[str, set[str]] = {
    # The guide's manual test event has no realm point id.
    EventType.POINTS_AWARDED: {"data.points.realmPoint.id"},
}
"""Fields of a guide sample that the model does not require; every other field is required."""


def _paths(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + key
            yield from _paths(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        for n, item in enumerate(node):
            yield from _paths(item, f"{prefix}{n}.")


def _step(node: Any, part: str) -> Any:
    return node[int(part)] if isinstance(node, list) else node[part]


def _without(event: dict[str, Any], path: str) -> dict[str, Any]:
    copied = copy.deepcopy(event)
    *parents, last = path.split(".")
    node: Any = copied
    for part in parents:
        node = _step(node, part)
    if isinstance(node, list):
        del node[int(last)]
    else:
        del node[last]
    return copied


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def test_every_topic_suffix_has_a_model() -> None:
    assert set(PAYLOADS) == {t.value for t in EventType} | {OTHER}


@pytest.mark.parametrize(
    "event",
    [*GUIDE_SAMPLES.values(), GUIDE_TEST_POINTS],
    ids=[*GUIDE_SAMPLES, "manual-test-points"],
)
def test_guide_events_fit_their_model(event: dict[str, Any]) -> None:
    PAYLOADS[event["type"]].model_validate(event)


@pytest.mark.parametrize("event_type", list(GUIDE_SAMPLES))
def test_every_object_allows_fields_drip_may_add(event_type: str) -> None:
    event = copy.deepcopy(GUIDE_SAMPLES[event_type])
    objects = list(_objects(event))
    for obj in objects:
        obj["addedLater"] = "kept"
    kept = list(_objects(PAYLOADS[event_type].model_validate(event).model_dump()))
    assert len(kept) == len(objects)
    assert all(obj["addedLater"] == "kept" for obj in kept)


def _field_cases() -> Iterator[Any]:
    for event_type, sample in GUIDE_SAMPLES.items():
        for path in _paths(sample):
            if path.split(".")[-1].isdigit():
                continue  # an element of a list, not a field
            required = path not in OPTIONAL.get(event_type, set())
            yield pytest.param(event_type, path, required, id=f"{event_type}:{path}")


@pytest.mark.parametrize(("event_type", "path", "required"), list(_field_cases()))
def test_a_sample_field_is_required_unless_listed_optional(
    event_type: str, path: str, required: bool
) -> None:
    model = PAYLOADS[event_type]
    event = _without(GUIDE_SAMPLES[event_type], path)
    if required:
        with pytest.raises(ValidationError):
            model.model_validate(event)
    else:
        model.model_validate(event)


_TYPES = [t.value for t in EventType]


@pytest.mark.parametrize(
    ("event_type", "wrong_type"),
    [(t, _TYPES[(n + 1) % len(_TYPES)]) for n, t in enumerate(_TYPES)] + [("quest.started", "")],
)
def test_a_documented_model_takes_only_its_own_type(event_type: str, wrong_type: str) -> None:
    event = copy.deepcopy(GUIDE_SAMPLES[event_type]) | {"type": wrong_type}
    with pytest.raises(ValidationError):
        PAYLOADS[event_type].model_validate(event)


@pytest.mark.parametrize(
    ("event", "valid"),
    [
        (make_event("app.custom.thing"), True),
        ({"type": "app.custom.thing"}, True),
        ({"type": "x", "data": {"anything": [1, 2]}, "extra": True}, True),
        ({"type": ""}, False),
        ({"data": {}}, False),
        ({"type": 7}, False),
    ],
)
def test_custom_events_need_only_a_type(event: dict[str, Any], valid: bool) -> None:
    model = PAYLOADS[OTHER]
    if valid:
        model.model_validate(event)
    else:
        with pytest.raises(ValidationError):
            model.model_validate(event)
