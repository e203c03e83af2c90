"""The event/topic contract between the receiver and the consumer groups.

Defined once, here: the DRIP event types we route by name, the topic of each, the record key, the
record headers, and the event identity. The receiver writes records by these rules and every
consumer group reads them by the same rules, so neither side spells a topic or header by hand.

Record layout:
    topic   ``<prefix>.<type>`` for a documented type, ``<prefix>.other`` for anything else
    key     the member id when the event names one, else the realm id (per-member ordering)
    value   the bytes the signature covers: the body DRIP sent, or its compact form when that
            is what was signed
    headers ``drip-event-id``, ``drip-event-type``, ``drip-realm-id``, ``drip-received-at``
            (ISO 8601 UTC) and ``drip-signature-form`` (``raw`` or ``compact``)
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

import orjson


class EventType(StrEnum):
    """The event types documented in DRIP's webhook guide; each has a topic of its own."""

    MEMBER_JOINED = "member.joined"
    MEMBER_LEFT = "member.left"
    POINTS_AWARDED = "member.points.awarded"
    QUEST_STARTED = "quest.started"
    QUEST_COMPLETED = "quest.completed"
    PURCHASE_COMPLETED = "store.purchase.completed"


DOCUMENTED_TYPES: frozenset[str] = frozenset(t.value for t in EventType)

MAX_TYPE_CHARS = 200
"""Longest event ``type`` accepted; it is copied into a record header."""
MAX_ID_CHARS = 200
"""Longest event ``id``, ``realmId`` and member id accepted; they become record headers, the
record key and primary keys downstream. With :data:`MAX_TYPE_CHARS` they keep a record's key
and headers far inside the room the settings leave beyond the body (``RECORD_OVERHEAD_BYTES``)."""
OTHER = "other"
"""Topic suffix for every type DRIP may send that is not documented (custom app events)."""


class Header:
    """Names of the record headers the receiver sets."""

    EVENT_ID = "drip-event-id"
    EVENT_TYPE = "drip-event-type"
    REALM_ID = "drip-realm-id"
    RECEIVED_AT = "drip-received-at"
    SIGNATURE_FORM = "drip-signature-form"


def topic_for(prefix: str, event_type: str) -> str:
    """The topic an event of ``event_type`` is published to."""
    return f"{prefix}.{event_type if event_type in DOCUMENTED_TYPES else OTHER}"


def topics(prefix: str, types: Iterable[str] | None = None) -> list[str]:
    """Topic names for ``types`` (every topic, ``other`` included, when ``types`` is None)."""
    if types is None:
        return [f"{prefix}.{t.value}" for t in EventType] + [f"{prefix}.{OTHER}"]
    return sorted({topic_for(prefix, t) for t in types})


def _dig(obj: Any, *path: str) -> Any:
    for part in path:
        # Plain dicts first: see docs/performance.md ("A dict check before the Mapping check").
        if type(obj) is not dict and not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


MEMBER_ID_PATHS: tuple[tuple[str, ...], ...] = (
    ("data", "member", "id"),
    ("data", "memberId"),
    ("data", "purchase", "member", "id"),
)
"""Where each type's payload keeps the member id, tried in this order (the record key)."""


def _scalar_str(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        text = str(value)
        return text or None
    return None


def member_id_of(event: Mapping[str, Any]) -> str | None:
    """The member an event is about, wherever DRIP's payload of that type keeps it."""
    for path in MEMBER_ID_PATHS:
        found = _scalar_str(_dig(event, *path))
        if found is not None:
            return found
    return None


def realm_id_of(event: Mapping[str, Any]) -> str | None:
    """The event's ``realmId``, if it is a non-empty string or integer."""
    return _scalar_str(event.get("realmId"))


def key_for(event: Mapping[str, Any]) -> bytes | None:
    """Record key: member id, else realm id, so one member's events keep their order."""
    key = member_id_of(event) or realm_id_of(event)
    return key.encode("utf-8") if key is not None else None


def _normalise_numbers(value: Any) -> Any:
    # Recursive: the receiver refuses bodies nested deeper than DRIP_MAX_JSON_DEPTH, which
    # the settings keep far below Python's recursion limit.
    # JavaScript writes 1.0 as 1; treating integral floats as integers makes a JS
    # re-serialization of an event hash and sign the same as the original.
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_numbers(v) for v in value]
    return value


def _floatless(value: Any) -> bool:
    """True when ``value`` holds only dicts, lists, str, int, bool and None (exact types)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif not (kind is str or kind is int or kind is bool or item is None):
            return False
    return True


def canonical_json(event: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: equal events give equal bytes, whatever their layout."""
    if _floatless(event):
        # orjson writes the same bytes as json.dumps below for these types (floats differ):
        # see docs/performance.md ("Canonical JSON through orjson").
        try:
            return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # non-string keys, integers beyond 64 bits, unpaired surrogates
            pass
    return json.dumps(
        _normalise_numbers(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def compact_json(event: Any) -> bytes:
    """The body as ``JSON.stringify`` re-serializes it: key order kept, no whitespace."""
    return orjson.dumps(_normalise_numbers(event))


def event_identity(event: Mapping[str, Any]) -> str:
    """The event's ``id`` when it has one, else the SHA-256 hex of its canonical JSON.

    A retry of an event, or a re-serialization of it, gets the same identity; consumer groups
    use it to count each event once.
    """
    given = _scalar_str(event.get("id"))
    if given is not None:
        return given
    return hashlib.sha256(canonical_json(event)).hexdigest()


def build_headers(
    event_id: str, event_type: str, realm_id: str | None, received_at: datetime, form: str
) -> list[tuple[str, bytes]]:
    """Record headers for one event, in the layout consumers decode with :class:`Envelope`."""
    return [
        (Header.EVENT_ID, event_id.encode("utf-8")),
        (Header.EVENT_TYPE, event_type.encode("utf-8")),
        (Header.REALM_ID, (realm_id or "").encode("utf-8")),
        (Header.RECEIVED_AT, received_at.isoformat(timespec="microseconds").encode("ascii")),
        (Header.SIGNATURE_FORM, form.encode("ascii")),
    ]


class Envelope(NamedTuple):
    """One record as a consumer group sees it: where it sits in Kafka and what it carries.

    A named tuple, built once per event: see docs/performance.md ("Named tuples").
    """

    topic: str
    partition: int
    offset: int
    event_id: str
    event_type: str
    received_at: datetime | None
    value: bytes
    logged_at: datetime | None = None
    """Kafka's record time: when the record was appended (or produced), if known."""

    @classmethod
    def from_record(
        cls,
        topic: str,
        partition: int,
        offset: int,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
        timestamp_ms: int | None = None,
    ) -> Envelope:
        """Decode a record; identity and type come from the headers the receiver set."""
        # Only the headers read here are decoded (this runs for every record); dict() keeps a
        # repeated header's last copy.
        found = dict(headers)
        event_id = found.get(Header.EVENT_ID) or b""
        event_type = found.get(Header.EVENT_TYPE) or b""
        received = found.get(Header.RECEIVED_AT)
        return tuple.__new__(
            cls,
            (
                topic,
                partition,
                offset,
                event_id.decode("utf-8", "replace"),
                event_type.decode("utf-8", "replace"),
                _parse_time(received.decode("utf-8", "replace")) if received else None,
                value or b"",
                # Only records the receiver did not stamp need Kafka's time.
                _record_time(timestamp_ms) if received is None else None,
            ),
        )


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _record_time(timestamp_ms: int | None) -> datetime | None:
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


SIGNATURE_HEADER = "X-Drip-Signature"


def signature_header(body: bytes, secret: bytes | str) -> str:
    """The ``X-Drip-Signature`` value DRIP sends with ``body``: ``sha256=<hex HMAC-SHA256>``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
