"""Properties of the webhook endpoint under generated requests, driven in-process.

The real ASGI endpoint runs with a stand-in publisher that records what it is asked to
publish. Whatever the body (random JSON, random bytes, deep nesting, unicode, huge numbers,
other encodings, sizes around the limit) and whatever the signature headers (missing,
repeated, malformed, upper-case hex, wrong secret, compact form):

- no answer is a 5xx while the publisher works;
- every 4xx carries a JSON body ``{"error": "..."}`` and publishes nothing;
- a 200 publishes exactly one record, under exactly one signature header, and the record's
  value is bytes that header's HMAC covers (the body itself when the raw body was signed);
- a well-formed event signed over its raw bytes and within every limit is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route, Router
from starlette.testclient import TestClient

from bridge.accesslog import AccessLog
from bridge.app import WEBHOOK_PATH
from bridge.metrics import Metrics
from bridge.publisher import Publisher
from bridge.webhook import WebhookEndpoint
from core.contract import MAX_ID_CHARS, MAX_TYPE_CHARS, compact_json
from core.settings import Settings
from tests.factories import TEST_SECRET
from tests.publishers import RecordingPublisher

MAX_BODY = 4096
MAX_DEPTH = 12
SECRET = TEST_SECRET.encode()


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[TestClient, RecordingPublisher]]:
    publisher = RecordingPublisher()
    config = Settings(
        webhook_secrets=TEST_SECRET,  # type: ignore[arg-type]
        max_body_bytes=MAX_BODY,
        max_json_depth=MAX_DEPTH,
        # Thousands of refused examples come from one test client: no 429 for them here
        # (the failure budget has tests of its own).
        failure_burst=10**9,
        _env_file=None,  # type: ignore[call-arg]
    )
    endpoint = WebhookEndpoint(config, cast(Publisher, publisher), Metrics(), AccessLog())
    app = Router(routes=[Route(WEBHOOK_PATH, endpoint, methods=["POST"])])
    with TestClient(app) as client:
        yield client, publisher


def _hmac(payload: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def nested(draw: st.DrawFn) -> Any:
    """A value nested around the depth limit, in lists and objects."""
    value: Any = draw(scalars)
    for _ in range(draw(st.integers(min_value=1, max_value=MAX_DEPTH + 4))):
        value = [value] if draw(st.booleans()) else {draw(st.text(max_size=3)): value}
    return value


identifiers = st.text(min_size=1, max_size=20) | st.integers(min_value=0, max_value=10**12)
events = st.fixed_dictionaries(
    {
        "type": st.text(min_size=1, max_size=30).filter(str.strip)
        | st.sampled_from(["member.joined", "quest.completed", "t" * (MAX_TYPE_CHARS + 1)]),
    },
    optional={
        "id": identifiers | st.just("i" * (MAX_ID_CHARS + 1)),
        "realmId": identifiers,
        "data": json_values | nested() | st.fixed_dictionaries({"memberId": identifiers}),
        "padding": st.integers(min_value=MAX_BODY - 300, max_value=MAX_BODY + 50).map(
            lambda n: "x" * n
        ),
    },
)


def _encode(value: Any, how: str) -> bytes:
    if how == "compact":
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if how == "pretty":
        return json.dumps(value, indent=2, ensure_ascii=False).encode()
    if how == "ascii-escapes":
        return json.dumps(value).encode()
    return json.dumps(value, ensure_ascii=False).encode(how)  # another charset


bodies = st.one_of(
    st.tuples(
        events | json_values | nested(),
        st.sampled_from(["compact", "pretty", "ascii-escapes", "utf-16", "utf-32"]),
    ).map(lambda pair: (_encode(*pair), pair[0], pair[1])),
    st.binary(max_size=300).map(lambda raw: (raw, None, "bytes")),
    st.integers(min_value=1, max_value=3000).map(
        lambda n: (b"[" * n + b"]" * n, None, "deep brackets")
    ),
)

SIGNINGS = [
    "raw", "raw-upper-hex", "compact", "none", "empty", "malformed", "wrong-body",
    "other-secret", "repeated-same", "repeated-different",
]  # fmt: skip


def _signature_headers(how: str, body: bytes, value: Any) -> list[tuple[str, str]]:
    name = "X-Drip-Signature"
    good = "sha256=" + _hmac(body)
    if how == "raw":
        return [(name, good)]
    if how == "raw-upper-hex":
        return [(name, "sha256=" + _hmac(body).upper())]
    if how == "compact":
        try:
            return [(name, "sha256=" + _hmac(compact_json(value)))]
        except (TypeError, ValueError):
            return [(name, good)]
    if how == "none":
        return []
    if how == "empty":
        return [(name, "")]
    if how == "malformed":
        return [(name, "sha256=" + _hmac(body)[:-1] + "z")]
    if how == "wrong-body":
        return [(name, "sha256=" + _hmac(body + b" "))]
    if how == "other-secret":
        return [(name, "sha256=" + _hmac(body, b"another-secret-123"))]
    if how == "repeated-same":
        return [(name, good), (name, good)]
    return [(name, "sha256=" + _hmac(b"{}")), (name, good)]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=bodies, signing=st.sampled_from(SIGNINGS))
def test_receiver_properties(
    receiver: tuple[TestClient, RecordingPublisher],
    body: tuple[bytes, Any, str],
    signing: str,
) -> None:
    client, publisher = receiver
    raw, value, _kind = body
    headers = [("Content-Type", "application/json"), *_signature_headers(signing, raw, value)]
    before = len(publisher.records)
    answer = client.post(WEBHOOK_PATH, content=raw, headers=headers)
    published = publisher.records[before:]

    assert answer.status_code < 500, answer.text
    if answer.status_code != 200:
        assert 400 <= answer.status_code < 500
        assert answer.headers["content-type"] == "application/json"
        assert isinstance(answer.json()["error"], str)
        assert published == []
        return

    assert len(published) == 1
    sent = [v for k, v in headers if k == "X-Drip-Signature"]
    assert len(sent) == 1
    assert hmac.compare_digest(sent[0].lower(), "sha256=" + _hmac(published[0].value))
    if signing.startswith("raw"):
        assert published[0].value == raw
    assert answer.json()["event_id"] == published[0].event_id


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    event=events,
    encoding=st.sampled_from(["compact", "pretty", "ascii-escapes"]),
    upper=st.booleans(),
)
def test_well_formed_signed_events_are_accepted(
    receiver: tuple[TestClient, RecordingPublisher],
    event: dict[str, Any],
    encoding: str,
    upper: bool,
) -> None:
    client, publisher = receiver
    raw = _encode(event, encoding)
    digest = _hmac(raw).upper() if upper else _hmac(raw)
    within = (
        len(raw) <= MAX_BODY
        and _depth(event) <= MAX_DEPTH
        and len(event["type"]) <= MAX_TYPE_CHARS
        and len(str(event.get("id", ""))) <= MAX_ID_CHARS
    )
    before = len(publisher.records)
    answer = client.post(
        WEBHOOK_PATH, content=raw, headers={"X-Drip-Signature": "sha256=" + digest}
    )
    if within:
        assert answer.status_code == 200, answer.text
        assert publisher.records[before].value == raw
    else:
        assert answer.status_code in (400, 413), answer.text
        assert len(publisher.records) == before
