"""Body decoding, the 400 classes, and the record built for a verified event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.ingest import InvalidEvent, build_record, compact_form, decode_json, require_event
from core.contract import MAX_ID_CHARS, MAX_TYPE_CHARS, Envelope, Header
from tests.factories import GUIDE_SAMPLES, make_event, pretty_body

RECEIVED = datetime(2024, 1, 20, 15, 30, 0, 123456, tzinfo=UTC)
DEPTH = 64


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
    assert decode_json(body, DEPTH) == expected


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
        (b"[" * 5000, "do not pair up"),
        (b"[" * 65 + b"]" * 65, "more than 64 levels deep"),
        (b'{"type":"a","d":' + b"[" * 1000 + b"]" * 1000 + b"}", "DRIP_MAX_JSON_DEPTH"),
        (b'{"type":"a","d":' + b'{"a":' * 900 + b"1" + b"}" * 901, "more than 64 levels"),
    ],
)
def test_decode_json_refuses(body: bytes, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        decode_json(body, DEPTH)


def test_decode_json_takes_the_deepest_allowed() -> None:
    body = b'{"type":"a","d":' + b"[" * (DEPTH - 1) + b"1.5" + b"]" * (DEPTH - 1) + b"}"
    assert decode_json(body, DEPTH)["type"] == "a"


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
        ({"type": "t" * (MAX_TYPE_CHARS + 1)}, f"longer than {MAX_TYPE_CHARS} characters"),
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
    ("body", "expected"),
    [
        (b'{"type": "a", "n": 1.0}', b'{"type":"a","n":1}'),
        (b'{"type":"a","n":1.0}', b'{"type":"a","n":1}'),
        (b'{"type":"a","n":1e2,"m":0.5}', b'{"type":"a","n":100,"m":0.5}'),
        (b'{"type":"a","n":-0}', b'{"type":"a","n":0}'),
        (b'{"type":"a","s":"\\u2b50"}', '{"type":"a","s":"⭐"}'.encode()),
        (b'{"type":"a","s":"a\\/b"}', b'{"type":"a","s":"a/b"}'),
        (b'{ "type" : "a b" }', b'{"type":"a b"}'),
        # Nothing to rewrite: no whitespace between tokens, no escape, no fraction.
        (b'{"type":"a b","n":[1,true,null]}', None),
        (b'{"data":{"points":1},"type":"a","data":{"points":9}}', None),
        # Already compact although escaped: nothing differs, nothing to try.
        (b'{"type":"a\\"b"}', None),
        (b'{ "type": "a", "s": "\\ud83d" }', None),
        # Read as a double, as JavaScript does, and written as JSON.stringify writes it.
        (b'{ "type": "a", "n": 123456789012345678901234567890 }',
         b'{"type":"a","n":1.2345678901234568e+29}'),
        (b'{ "type": "a", "d": ' + b"[" * 64 + b"]" * 64 + b" }", None),
        (b'{ "type": "a", "d": ' + b"[" * 63 + b"]" * 63 + b" }",
         b'{"type":"a","d":' + b"[" * 63 + b"]" * 63 + b"}"),
        (b'{ "type": "a", "d": [1, 2', None),
        (b"not json at all", None),
        # Longer than the body limit once written compactly.
        (b'[' + b"1e15," * 30 + b"1e15]", None),
    ],
)  # fmt: skip
def test_compact_form(body: bytes, expected: bytes | None) -> None:
    assert compact_form(body, DEPTH, 200) == expected


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
    event, parsed_type = require_event(decode_json(body, DEPTH))
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


LONG = "x" * (MAX_ID_CHARS + 1)
WIDE = "é" * MAX_ID_CHARS  # within the limit in characters, twice that in UTF-8 bytes


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"type": "a", "id": LONG, "realmId": "r"}, "event id is longer than 200"),
        ({"type": "a", "id": int("9" * 201), "realmId": "r"}, "event id is longer than 200"),
        ({"type": "a", "realmId": LONG}, "event realmId is longer than 200"),
        ({"type": "a", "data": {"memberId": LONG}}, "event member id is longer than 200"),
    ],
)
def test_build_record_refuses_long_identifiers(event: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        build_record(event, "a", b"{}", "drip", "raw", RECEIVED)


def test_build_record_counts_identifiers_in_characters() -> None:
    event = {"type": "a", "id": WIDE, "realmId": WIDE, "data": {"memberId": WIDE}}
    record = build_record(event, "a", b"{}", "drip", "raw", RECEIVED)
    assert record.key == WIDE.encode()
    assert record.event_id == WIDE
