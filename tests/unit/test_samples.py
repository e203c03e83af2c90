"""Sample events: the guide's shapes, fresh values on every call, balances that only grow."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from core.contract import (
    DOCUMENTED_TYPES,
    EventType,
    event_identity,
    member_id_of,
    realm_id_of,
    topic_for,
)
from devstack.samples import SampleSeries, iso, object_id, sample_event
from tests.factories import GUIDE_SAMPLES

NOW = datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
REALM = "65a1b2c3d4e5f60718293a4b"
MEMBER = "65a1b2c3d4e5f60718293aff"


def _shape(value: Any) -> Any:
    """Keys and value types, recursively: what a consumer relies on, without the values."""
    if isinstance(value, dict):
        return {key: _shape(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _event(event_type: str, seed: int = 7, balance: int = 0) -> dict[str, Any]:
    return sample_event(
        event_type, realm=REALM, member=MEMBER, rng=random.Random(seed), now=NOW, balance=balance
    )


@pytest.mark.parametrize("event_type", sorted(DOCUMENTED_TYPES))
def test_documented_types_have_the_guides_shape(event_type: str) -> None:
    event = _event(event_type)

    assert _shape(event) == _shape(GUIDE_SAMPLES[event_type])
    assert event["type"] == event_type
    assert event["timestamp"] == "2025-03-01T12:00:00.123Z"
    assert member_id_of(event) == MEMBER
    assert realm_id_of(event) == REALM


@pytest.mark.parametrize("event_type", [*sorted(DOCUMENTED_TYPES), "app.badge.earned", "custom"])
def test_every_call_is_a_new_event(event_type: str) -> None:
    series = SampleSeries(REALM, MEMBER, random.Random(1), NOW)

    events = [series.next(event_type) for _ in range(25)]

    assert len({event_identity(e) for e in events}) == 25
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert stamps == sorted(set(stamps))


def test_same_inputs_same_event() -> None:
    assert _event(EventType.PURCHASE_COMPLETED, seed=3) == _event(EventType.PURCHASE_COMPLETED, 3)


def test_points_raise_the_members_balance_across_a_mixed_series() -> None:
    series = SampleSeries(REALM, MEMBER, random.Random(2), NOW)
    kinds = [EventType.POINTS_AWARDED, EventType.QUEST_COMPLETED, EventType.PURCHASE_COMPLETED]

    events = [series.next(kinds[i % 3]) for i in range(30)]

    awards = [e["data"] for e in events if e["type"] == EventType.POINTS_AWARDED]
    balances = [d["newBalance"] for d in awards]
    assert balances == sorted(set(balances))
    assert all(later - earlier == d["points"]["amount"] for earlier, later, d in
               zip(balances, balances[1:], awards[1:], strict=False))  # fmt: skip


def test_points_award_adds_to_the_given_balance() -> None:
    data = _event(EventType.POINTS_AWARDED, balance=1200)["data"]

    assert data["newBalance"] == 1200 + data["points"]["amount"]
    assert data["points"]["amount"] > 0


def test_custom_types_look_like_another_apps_event() -> None:
    event = _event("app.badge.earned")

    assert topic_for("drip", event["type"]).endswith(".other")
    assert event["data"]["action"] == "earned"
    assert member_id_of(event) == MEMBER
    assert realm_id_of(event) == REALM


def test_quests_items_and_currency_keep_their_ids_across_runs() -> None:
    seen = {
        (e["data"]["quest"]["name"], e["data"]["quest"]["id"])
        for seed in range(40)
        for e in [_event(EventType.QUEST_COMPLETED, seed=seed)]
    }
    names = {name for name, _ in seen}
    assert len(seen) == len(names) > 1


@pytest.mark.parametrize("seed", range(3))
def test_ids_look_like_drips(seed: int) -> None:
    assert re.fullmatch(r"[0-9a-f]{24}", object_id(random.Random(seed), NOW))
    assert iso(NOW) == "2025-03-01T12:00:00.123Z"
