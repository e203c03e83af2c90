"""Body decoding, the 400 classes, and the record built for a verified event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.ingest import InvalidEvent, build_record, compact_form, decode_json, require_event
from dripbridge.contract import Envelope, Header
from tests.factories import GUIDE_SAMPLES, make_event, pretty_body

RECEIVED = datetime(2024, 1, 20, 15, 30, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"type":"a"}', {"type": "a"}),
        (b"[1, 2]", [1, 2]),
        (b'"text"', "text"),
        ('{"type":"⭐"}'.encode(), {"type": "⭐"}),
        # Past the fast decoder's limits, still JSON: the stdlib decoder takes them.
        (b'{"type":"a","name":"\\ud83d"}', {"type": "a", "name": "\ud83d"}),
        (b'{"type":"a","n":1e400}', {"type": "a", "n": float("inf")}),
    ],
)
def test_decode_json_accepts(body: bytes, expected: object) -> None:
    assert decode_json(body) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON"),
        (b"type=member.joined", "not JSON"),
        (b'{"type": "a",}', "not JSON"),
        (b'{"type": "a"', "not JSON"),
        (b'{"type":"a","n":NaN}', "NaN is not a JSON number"),
        (b'{"type":"a","n":-Infinity}', "-Infinity is not a JSON number"),
        (b'{"type":"\xff"}', "not valid UTF-8"),
        ('{"type":"é"}'.encode("latin-1"), "not valid UTF-8"),
        (b"\xef\xbb\xbf{}", "not JSON"),
        (b"[" * 5000, "not JSON"),
    ],
)
def test_decode_json_refuses(body: bytes, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        decode_json(body)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([{"type": "member.joined"}], "not an array"),
        ("member.joined", "not a JSON scalar"),
        (42, "not a JSON scalar"),
        (None, "not a JSON scalar"),
        ({}, '"type" is missing'),
        ({"type": None}, '"type" is missing'),
        ({"type": ""}, '"type" is empty'),
        ({"type": "   "}, '"type" is empty'),
        ({"type": 7}, '"type" is not a string'),
        ({"type": ["member.joined"]}, '"type" is not a string'),
    ],
)
def test_require_event_refuses(value: object, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        require_event(value)


@pytest.mark.parametrize("event_type", [*GUIDE_SAMPLES, "custom.thing"])
def test_require_event_returns_type(event_type: str) -> None:
    event = make_event(event_type)
    assert require_event(event) == (event, event_type)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"type": "a", "n": 1.0}, b'{"type":"a","n":1}'),
        ({"type": "a", "s": "⭐"}, '{"type":"a","s":"⭐"}'.encode()),
        ({"type": "a", "s": "\ud83d"}, None),
    ],
)
def test_compact_form(value: object, expected: bytes | None) -> None:
    assert compact_form(value) == expected


@pytest.mark.parametrize(
    ("event_type", "topic", "key"),
    [
        ("member.joined", "drip.member.joined", b"507f1f77bcf86cd799439013"),
        ("member.left", "drip.member.left", b"507f1f77bcf86cd799439013"),
        ("store.purchase.completed", "drip.store.purchase.completed", b"507f1f77bcf86cd799439013"),
        ("custom.thing", "drip.other", b"507f1f77bcf86cd799439011"),
    ],
)
def test_build_record(event_type: str, topic: str, key: bytes) -> None:
    body = pretty_body(make_event(event_type))
    event, parsed_type = require_event(decode_json(body))
    record = build_record(event, parsed_type, body, "drip", "compact", RECEIVED)
    assert (record.topic, record.key, record.value, record.event_type) == (
        topic,
        key,
        body,
        event_type,
    )
    envelope = Envelope.from_record(record.topic, 0, 0, record.value, record.headers)
    assert envelope.event_id == record.event_id
    assert envelope.event_type == event_type
    assert envelope.received_at == RECEIVED
    assert dict(record.headers)[Header.SIGNATURE_FORM] == b"compact"
    assert dict(record.headers)[Header.REALM_ID] == b"507f1f77bcf86cd799439011"


def test_build_record_refuses_unpaired_surrogate_type() -> None:
    event = {"type": "odd\ud800", "realmId": "r"}
    with pytest.raises(InvalidEvent, match="surrogate"):
        build_record(event, event["type"], b"{}", "drip", "raw", RECEIVED)
