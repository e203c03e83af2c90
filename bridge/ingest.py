"""From a verified body to a Kafka record: decode, check, and lay out by the event contract.

Everything here is pure: bytes and values in, values out. The receiver answers 400 with the
message of an :class:`InvalidEvent`, so messages are written for whoever sent the body.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple, NoReturn

import orjson

from bridge.jsonscan import Layout, Nesting, nesting
from core import contract
from core.errors import DripBridgeError


class InvalidEvent(DripBridgeError):
    """A body that is not a usable DRIP event (not UTF-8, not JSON, not an object, no type)."""


def _refuse_constant(name: str) -> NoReturn:
    raise InvalidEvent(f"body is not JSON: {name} is not a JSON number")


def decode_json(body: bytes, max_depth: int) -> Any:
    """The JSON value of ``body``, or InvalidEvent saying why it is not UTF-8 JSON.

    The nesting depth is checked on the bytes first: no decoder, and no recursive routine
    that later walks the value, ever sees a body nested deeper than ``max_depth``.
    """
    found = nesting(body, max_depth)
    if found is Nesting.TOO_DEEP:
        raise InvalidEvent(
            f"body nests arrays and objects more than {max_depth} levels deep "
            "(the receiver's limit, DRIP_MAX_JSON_DEPTH)"
        )
    if found is Nesting.UNPAIRED:
        raise InvalidEvent("body is not JSON: its brackets do not pair up")
    return _decode(body)


def _decode(body: bytes) -> Any:
    """orjson decodes nearly everything. A few bodies that are valid JSON it refuses (integers
    beyond 64 bits, unpaired surrogate escapes); the stdlib decoder takes those, so a signed
    event is never refused for a limit of the fast decoder. NaN and Infinity stay refused:
    they are not JSON.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as fast_error:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(f"body is not valid UTF-8 (byte {exc.start})") from None
        try:
            return json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise InvalidEvent(f"body is not JSON: {fast_error}") from None


def require_event(value: Any) -> tuple[dict[str, Any], str]:
    """The event and its type, or InvalidEvent when ``value`` is not an object with a type."""
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else "a JSON scalar"
        raise InvalidEvent(f"body must be a JSON object (an event), not {kind}")
    event_type = value.get("type")
    if not isinstance(event_type, str):
        what = "missing" if event_type is None else "not a string"
        raise InvalidEvent(f'event field "type" is {what}; it must name the event type')
    if not event_type.strip():
        raise InvalidEvent('event field "type" is empty; it must name the event type')
    if len(event_type) > contract.MAX_TYPE_CHARS:
        raise InvalidEvent(
            f'event field "type" is longer than {contract.MAX_TYPE_CHARS} characters'
        )
    return value, event_type


def compact_form(body: bytes, max_depth: int, max_bytes: int) -> bytes | None:
    """The body as DRIP's sample code signs it (``JSON.stringify``), when that differs from it.

    None when there is no other form to try: the body is already compact (see
    :attr:`Layout.compact`), nests deeper than ``max_depth``, is not JSON, holds what
    ``JSON.stringify`` cannot write (an unpaired surrogate escape), or its
    compact form is longer than ``max_bytes`` (``1e15`` is written ``1000000000000000``).
    Nothing is decoded unless the layout says the form may differ and the depth is within
    the limit.
    """
    layout = Layout(body)
    if layout.compact or layout.nesting(max_depth) is not Nesting.WITHIN:
        return None
    try:
        value = _decode(body)
    except InvalidEvent:
        return None
    try:
        # Without a fraction or an exponent, the only floats are integers beyond 64 bits
        # (orjson reads them as doubles, as JavaScript does), which normalising leaves alone.
        compact = contract.compact_json(value) if layout.has_fractions else orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return None
    return compact if len(compact) <= max_bytes and compact != body else None


_MAX_ID = contract.MAX_ID_CHARS


def _refuse_long_ids(event_id: str, realm_id: str | None, key: bytes | None) -> None:
    """InvalidEvent naming the identifier over the limit (the key counts in characters)."""
    found = (
        ("id", event_id),
        ("realmId", realm_id or ""),
        ("member id", key.decode("utf-8") if key is not None else ""),
    )
    for field, value in found:
        if len(value) > _MAX_ID:
            raise InvalidEvent(f"event {field} is longer than {_MAX_ID} characters")


class Record(NamedTuple):
    """One Kafka record, laid out by :mod:`core.contract`.

    A named tuple, built once per event: see docs/performance.md ("Named tuples").
    """

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    event_id: str
    event_type: str


def build_record(
    event: dict[str, Any],
    event_type: str,
    body: bytes,
    prefix: str,
    form: str,
    received_at: datetime,
) -> Record:
    """The record for a verified event; the value is ``body`` itself, byte for byte.

    ``body`` is the bytes the signature covered: the received body, or its compact form.
    """
    try:
        event_id = contract.event_identity(event)
        realm_id = contract.realm_id_of(event)
        key = contract.key_for(event)
        if (
            len(event_id) > _MAX_ID
            or (realm_id is not None and len(realm_id) > _MAX_ID)
            or (key is not None and len(key) > _MAX_ID)
        ):
            _refuse_long_ids(event_id, realm_id, key)
        headers = contract.build_headers(event_id, event_type, realm_id, received_at, form)
    except UnicodeEncodeError:
        # Only an unpaired surrogate escape ("\ud800") gets here: such a string has no
        # UTF-8 form, so the event can be neither hashed nor keyed (RFC 8259, section 8.2).
        raise InvalidEvent(
            "event holds an unpaired UTF-16 surrogate escape; it has no UTF-8 form"
        ) from None
    return Record(
        topic=contract.topic_for(prefix, event_type),
        key=key,
        value=body,
        headers=headers,
        event_id=event_id,
        event_type=event_type,
    )
