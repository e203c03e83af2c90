"""The event contract: routing, record keys, identity and headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from core.contract import (
    DOCUMENTED_TYPES,
    Envelope,
    EventType,
    Header,
    _normalise_numbers,
    build_headers,
    canonical_json,
    event_identity,
    key_for,
    topic_for,
    topics,
)
from tests.factories import GUIDE_SAMPLES, GUIDE_TEST_POINTS, make_event, pretty_body


@pytest.mark.parametrize(
    ("event_type", "topic"),
    [
        ("member.joined", "p.member.joined"),
        ("member.left", "p.member.left"),
        ("member.points.awarded", "p.member.points.awarded"),
        ("quest.started", "p.quest.started"),
        ("quest.completed", "p.quest.completed"),
        ("store.purchase.completed", "p.store.purchase.completed"),
        ("custom.app.event", "p.other"),
        ("member.joined.v2", "p.other"),
        ("MEMBER.JOINED", "p.other"),
    ],
)
def test_topic_for(event_type: str, topic: str) -> None:
    assert topic_for("p", event_type) == topic


def test_six_documented_types_and_other() -> None:
    assert set(GUIDE_SAMPLES) == DOCUMENTED_TYPES == {t.value for t in EventType}
    assert topics("p") == [*(f"p.{t.value}" for t in EventType), "p.other"]
    assert topics("p", ["member.joined", "x", "y"]) == ["p.member.joined", "p.other"]


@pytest.mark.parametrize(
    ("event", "key"),
    [
        ({"data": {"member": {"id": "m1"}}, "realmId": "r"}, b"m1"),
        ({"data": {"memberId": "m2"}, "realmId": "r"}, b"m2"),
        ({"data": {"purchase": {"member": {"id": "m3"}}}, "realmId": "r"}, b"m3"),
        ({"data": {"member": {"id": 12345}}, "realmId": "r"}, b"12345"),
        ({"data": {"member": {"id": ""}}, "realmId": "r"}, b"r"),
        ({"data": {"member": {"id": True}}, "realmId": "r"}, b"r"),
        ({"data": {"member": "m"}, "realmId": "r"}, b"r"),
        ({"data": {"note": "custom"}, "realmId": "r"}, b"r"),
        ({"data": None, "realmId": "r"}, b"r"),
        ({"data": {}}, None),
        (GUIDE_TEST_POINTS, b"test-member"),
        *((sample, b"507f1f77bcf86cd799439013") for sample in GUIDE_SAMPLES.values()),
    ],
)
def test_key_for(event: dict[str, Any], key: bytes | None) -> None:
    assert key_for(event) == key


@pytest.mark.parametrize(
    ("event", "expected"),
    [({"id": "evt_1", "type": "a"}, "evt_1"), ({"id": 42, "type": "a"}, "42")],
)
def test_identity_given_id(event: dict[str, Any], expected: str) -> None:
    assert event_identity(event) == expected


_SAMPLES = [*GUIDE_SAMPLES.values(), GUIDE_TEST_POINTS]


@pytest.mark.parametrize("event", _SAMPLES)
def test_identity_stable_across_serializations(event: dict[str, Any]) -> None:
    pretty = json.loads(pretty_body(event))
    compact = json.loads(json.dumps(event, separators=(",", ":")))
    reordered = dict(reversed(list(event.items())))
    identity = event_identity(event)
    assert len(identity) == 64
    assert event_identity(pretty) == event_identity(compact) == event_identity(reordered)
    assert identity == event_identity(json.loads(canonical_json(event)))


def test_identity_separates_events() -> None:
    identities = {event_identity(e) for e in _SAMPLES}
    identities |= {event_identity(make_event("member.left", timestamp="2024-01-21T00:00:00Z"))}
    assert len(identities) == len(_SAMPLES) + 1


@pytest.mark.parametrize(
    ("a", "b"),
    [({"type": "a", "n": 1.0}, {"type": "a", "n": 1}), ({"b": 1, "a": 2}, {"a": 2, "b": 1})],
)
def test_identity_same_for_equivalent_json(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert event_identity(a) == event_identity(b)


@pytest.mark.parametrize("realm", ["507f1f77bcf86cd799439011", None])
def test_headers_round_trip(realm: str | None) -> None:
    received = datetime(2024, 1, 20, 15, 30, tzinfo=UTC)
    headers = build_headers("evt", "member.joined", realm, received, "raw")
    assert [name for name, _ in headers] == [
        Header.EVENT_ID,
        Header.EVENT_TYPE,
        Header.REALM_ID,
        Header.RECEIVED_AT,
        Header.SIGNATURE_FORM,
    ]
    envelope = Envelope.from_record("t", 1, 2, b"{}", headers)
    assert (envelope.event_id, envelope.event_type, envelope.received_at) == (
        "evt",
        "member.joined",
        received,
    )
    assert dict(headers)[Header.REALM_ID] == (realm or "").encode()


def _reference_canonical(event: Any) -> bytes:
    return json.dumps(
        _normalise_numbers(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


_AWKWARD = "".join(map(chr, range(0x20))) + '"\\/\x7f\u2028\u2029é⭐😀\uffff'


@pytest.mark.parametrize(
    "value",
    [
        *_SAMPLES,
        {"s": _AWKWARD, _AWKWARD: [_AWKWARD]},
        {"\uffff": 1, "😀": 2, "z": 3, "é": 4, "Z": 5, "a": 6, "a\x00": 7, "": 8},
        {"n": [0, -1, 2**63 - 1, 2**64 - 1, 2**64, -(2**63), -(2**70)]},
        {"f": [1.0, 0.5, 1e-7, 1.5e-5, 1e16, 2.0**60, -0.0]},
        {"nested": [[{"b": None, "a": True}], [], {}], "flag": False},
        {2: "int keys", 1: "sorted as numbers then written as strings"},
        [],
        "scalar",
    ],
)
def test_canonical_json_matches_reference(value: Any) -> None:
    assert canonical_json(value) == _reference_canonical(value)


def test_canonical_json_refuses_unpaired_surrogate() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"s": "\ud800"})
