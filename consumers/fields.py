"""Typed reads of fields in a DRIP payload, for the groups' pure ``rows_from`` mappings.

One way to read a field: a mapping walks the payload's objects once (``obj``) and reads each
field from its parent with the reader of the type it stores. Each reader returns the value in
that type, or raises :class:`UnusableEvent` naming the field's dotted path and what was wrong
with it, so a dead letter tells the operator exactly which field to look at. The ordinary form
of a value (a non-blank string, an integer, an ISO 8601 string) is checked first and returned
at once; anything else goes to the slower branch that converts it or names the fault.

Times come back in UTC, whatever offset the event wrote: the instant is what every group stores
and compares, and a UTC datetime is one ``orjson`` writes natively (:mod:`consumers.api`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.contract import Envelope
from core.errors import UnusableEvent
from core.settings import Settings

_MAX_INT = 2**63 - 1
_NOTHING: dict[str, Any] = {}


def event_data(payload: dict[str, Any]) -> dict[str, Any]:
    """The event's ``data`` object; UnusableEvent when it is missing or not an object."""
    data = payload.get("data")
    if type(data) is not dict:
        raise UnusableEvent("data is missing or not an object")
    return data


def obj(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """The object at ``key``; an empty one when it is absent or null (its fields read as absent).

    UnusableEvent when the value is there but is not an object.
    """
    value = parent.get(key)
    if type(value) is dict:
        return value
    if value is None:
        return _NOTHING
    raise UnusableEvent(f"{path} must be an object, got {_kind(value)}")


def text(parent: dict[str, Any], key: str, path: str) -> str:
    """The non-empty string (or integer, as text) at ``key``; UnusableEvent if absent or not."""
    value = parent.get(key)
    if type(value) is str and value.strip():
        return value
    if value is None:
        raise UnusableEvent(f"{path} is missing")
    return _text(value, path)


def optional_text(parent: dict[str, Any], key: str, path: str) -> str | None:
    """The string at ``key``, or None when absent, null or empty; UnusableEvent if not text."""
    value = parent.get(key)
    if type(value) is str and value.strip():
        return value
    if value is None or value == "":
        return None
    return _text(value, path)


def _text(value: Any, path: str) -> str:
    # Ids are strings in DRIP's guide; integers are accepted too because JSON producers
    # sometimes send numeric ids, and the record key (contract.member_id_of) does the same.
    if type(value) is int:
        return str(value)
    if type(value) is str:
        raise UnusableEvent(f"{path} must not be empty")
    raise UnusableEvent(f"{path} must be a string, got {_kind(value)}")


def integer(parent: dict[str, Any], key: str, path: str) -> int:
    """The whole number (``1000`` or ``1000.0``) at ``key`` that a bigint holds."""
    value = parent.get(key)
    if type(value) is int and -_MAX_INT - 1 <= value <= _MAX_INT:
        return value
    if value is None:
        raise UnusableEvent(f"{path} is missing")
    if type(value) is not float and type(value) is not int:
        raise UnusableEvent(f"{path} must be a number, got {_kind(value)}")
    if type(value) is float and not value.is_integer():
        raise UnusableEvent(f"{path} must be a whole number, got {value}")
    if not -_MAX_INT - 1 <= value <= _MAX_INT:
        # PostgreSQL's bigint would refuse it.
        raise UnusableEvent(f"{path} is out of range for a 64-bit integer: {value}")
    return int(value)


def count(parent: dict[str, Any], key: str, path: str) -> int:
    """:func:`integer`, and not negative."""
    value = integer(parent, key, path)
    if value < 0:
        raise UnusableEvent(f"{path} must not be negative, got {value}")
    return value


def instant(parent: dict[str, Any], key: str, path: str) -> datetime | None:
    """The ISO 8601 instant at ``key`` in UTC (UTC when it names no offset), None when absent.

    A present value that is not an ISO 8601 string is an UnusableEvent rather than a silent
    fallback: guessing another time would put the event on the wrong day.
    """
    value = parent.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise UnusableEvent(f"{path} must be an ISO 8601 string, got {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UnusableEvent(f"{path} is not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:00:00-05:00 is a valid date-time whose UTC instant is past year 9999.
        raise UnusableEvent(f"{path} is out of the representable range in UTC: {value!r}") from None


def event_time(payload: dict[str, Any], parent: dict[str, Any], key: str, path: str) -> datetime:
    """The time at ``key``, else the event's ``timestamp``; UnusableEvent if neither is there."""
    found = instant(parent, key, path) or instant(payload, "timestamp", "timestamp")
    if found is None:
        raise UnusableEvent(f"{path} and timestamp are both missing")
    return found


def not_ahead(at: datetime, envelope: Envelope, settings: Settings, path: str) -> datetime:
    """``at``, unless it is further ahead of the record's receive time than the settings allow.

    An event stamped in the future would freeze a last-writer-wins row (no later real event
    could replace it): UnusableEvent, naming DRIP_MAX_EVENT_AHEAD_S. The receive time is the
    receiver's stamp, else Kafka's record time; a record with neither is not checked.
    """
    received = envelope.received_at or envelope.logged_at
    if received is not None and (at - received).total_seconds() > settings.max_event_ahead_s:
        raise UnusableEvent(
            f"{path} {at.isoformat()} is more than DRIP_MAX_EVENT_AHEAD_S="
            f"{settings.max_event_ahead_s:g} s ahead of its receive time {received.isoformat()}"
        )
    return at


def _kind(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string"}
    names |= {list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)
