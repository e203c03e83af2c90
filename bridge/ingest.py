"""From a verified body to a Kafka record: decode, check, and lay out by the event contract.

Everything here is pure: bytes and values in, values out. The receiver answers 400 with the
message of an :class:`InvalidEvent`, so messages are written for whoever sent the body.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple, NoReturn

import orjson

from dripbridge import contract
from dripbridge.errors import DripBridgeError


class InvalidEvent(DripBridgeError):
    """A body that is not a usable DRIP event (not UTF-8, not JSON, not an object, no type)."""


def _refuse_constant(name: str) -> NoReturn:
    raise InvalidEvent(f"body is not JSON: {name} is not a JSON number")


def decode_json(body: bytes) -> Any:
    """The JSON value of ``body``, or InvalidEvent saying why it is not UTF-8 JSON.

    orjson decodes nearly everything. A few bodies that are valid JSON it refuses (integers
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
    return value, event_type


def compact_form(value: Any) -> bytes | None:
    """The body as DRIP's sample code signs it (``JSON.stringify``), or None if not writable."""
    try:
        return contract.compact_json(value)
    except (TypeError, orjson.JSONEncodeError):
        # Integers beyond 64 bits and unpaired surrogates: no compact form to compare.
        return None


class Record(NamedTuple):
    """One Kafka record, laid out by :mod:`dripbridge.contract`.

    A named tuple rather than a frozen dataclass: one is built per request, and a frozen
    dataclass sets each field through ``object.__setattr__`` (about four times the cost).
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
    """The record for a verified event; the value is ``body`` itself, byte for byte."""
    try:
        event_id = contract.event_identity(event)
        headers = contract.build_headers(
            event_id, event_type, contract.realm_id_of(event), received_at, form
        )
        key = contract.key_for(event)
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
