"""Typed reads of fields in a DRIP payload, for the groups' pure ``rows_from`` mappings.

Each reader takes the payload and a dotted path (``"data.member.id"``) and returns the value in
the type the group stores, or raises :class:`UnusableEvent` naming the path and what was wrong
with it, so a dead letter tells the operator exactly which field to look at.

Times come back in UTC, whatever offset the event wrote: the instant is what every group stores
and compares, and a UTC datetime is one ``orjson`` writes natively (:mod:`consumers.json_rows`).

The ``plain_*`` readers are the per-event fast path: they take a value already fetched from the
payload and accept only its ordinary form (a non-blank ``str``, an ``int``, an ISO 8601 string),
returning what the matching reader above would return for it. Anything else raises
:class:`NotPlain` (or the KeyError, TypeError, AttributeError or ValueError of reading it), and
the group then maps the event with the readers above, which name the field at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

from dripbridge.contract import Envelope
from dripbridge.errors import UnusableEvent
from dripbridge.settings import Settings

_MISSING = object()
_MAX_COUNT = 2**63 - 1


_PARTS: dict[str, tuple[str, ...]] = {}


def _parts(path: str) -> tuple[str, ...]:
    parts = _PARTS.get(path)
    if parts is None:
        # Paths are the groups' literals: a handful, so the cache stays small.
        parts = _PARTS[path] = tuple(path.split("."))
    return parts


def _lookup(payload: Mapping[str, Any], path: str) -> Any:
    # Runs for every field of every event: dicts (what orjson gives) skip the slower ABC check
    # and the loop keeps to the bare minimum per level.
    node: Any = payload
    parts = _PARTS.get(path) or _parts(path)
    for part in parts:
        if type(node) is not dict and not isinstance(node, Mapping):
            _not_an_object(payload, parts, path)
        node = node.get(part)
        if node is None:
            return _MISSING
    return node


def _not_an_object(payload: Mapping[str, Any], parts: tuple[str, ...], path: str) -> NoReturn:
    node: Any = payload
    for depth, part in enumerate(parts):
        if not isinstance(node, Mapping):
            where = ".".join(parts[:depth])
            raise UnusableEvent(f"{where} must be an object, got {_kind(node)} (reading {path})")
        node = node.get(part)
    raise AssertionError(f"{path}: every level is an object")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "boolean", int: "number", float: "number", str: "string"}
    names |= {list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _text(value: Any, path: str) -> str:
    # Ids are strings in DRIP's guide; integers are accepted too because JSON producers
    # sometimes send numeric ids, and the record key (contract.member_id_of) does the same.
    if type(value) is not str and (isinstance(value, bool) or not isinstance(value, str | int)):
        raise UnusableEvent(f"{path} must be a string, got {_kind(value)}")
    text = value if type(value) is str else str(value)
    if not text.strip():
        raise UnusableEvent(f"{path} must not be empty")
    return text


def required_str(payload: Mapping[str, Any], path: str) -> str:
    """The non-empty string (or integer, as text) at ``path``; UnusableEvent if absent or not."""
    value = _lookup(payload, path)
    if value is _MISSING:
        raise UnusableEvent(f"{path} is missing")
    return _text(value, path)


def optional_str(payload: Mapping[str, Any], path: str) -> str | None:
    """The string at ``path``, or None when absent, null or empty; UnusableEvent if not text."""
    value = _lookup(payload, path)
    if value is _MISSING or value == "":
        return None
    return _text(value, path)


def required_count(payload: Mapping[str, Any], path: str) -> int:
    """The non-negative whole number at ``path`` (``1000`` or ``1000.0``); UnusableEvent if not."""
    value = _lookup(payload, path)
    if value is _MISSING:
        raise UnusableEvent(f"{path} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnusableEvent(f"{path} must be a number, got {_kind(value)}")
    if isinstance(value, float) and not value.is_integer():
        raise UnusableEvent(f"{path} must be a whole number, got {value}")
    if value < 0:
        raise UnusableEvent(f"{path} must not be negative, got {value}")
    if value > _MAX_COUNT:
        # PostgreSQL's bigint would refuse it, and a refused batch is retried for ever.
        raise UnusableEvent(f"{path} is too large for a 64-bit integer: {value}")
    return int(value)


def optional_time(payload: Mapping[str, Any], path: str) -> datetime | None:
    """The ISO 8601 instant at ``path`` (UTC when it names no offset), or None when absent.

    A present value that is not an ISO 8601 string is an UnusableEvent rather than a silent
    fallback: guessing another time would put the event on the wrong day.
    """
    value = _lookup(payload, path)
    if value is _MISSING:
        return None
    if not isinstance(value, str):
        raise UnusableEvent(f"{path} must be an ISO 8601 string, got {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UnusableEvent(f"{path} is not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is UTC:
        return parsed
    try:
        return _utc(parsed)
    except OverflowError:
        # 9999-12-31T23:00:00-05:00 is a valid date-time whose UTC instant is past year 9999.
        raise UnusableEvent(f"{path} is out of the representable range in UTC: {value!r}") from None


def _utc(parsed: datetime) -> datetime:
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


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


def event_time(payload: Mapping[str, Any], path: str) -> datetime:
    """The time at ``path``, else the event's ``timestamp``; UnusableEvent if neither is there."""
    found = optional_time(payload, path) or optional_time(payload, "timestamp")
    if found is None:
        raise UnusableEvent(f"{path} and timestamp are both missing")
    return found


class NotPlain(Exception):
    """A value that a ``plain_*`` reader does not take as it is; the careful readers decide."""


NOT_PLAIN = (NotPlain, LookupError, TypeError, AttributeError, ValueError, OverflowError)
"""What a fast path built on the ``plain_*`` readers (and plain dict indexing) may raise."""


def plain_str(value: Any) -> str:
    """``value`` if it is a non-blank ``str`` (what :func:`required_str` returns for it)."""
    if type(value) is str and value.strip():
        return value
    raise NotPlain


def plain_optional_str(value: Any) -> str | None:
    """None for None or ``""``, ``value`` if a non-blank ``str`` (as :func:`optional_str`)."""
    if value is None or value == "":
        return None
    if type(value) is str and value.strip():
        return value
    raise NotPlain


def plain_int(value: Any) -> int:
    """``value`` if it is an ``int`` (not a bool) that a PostgreSQL bigint holds."""
    if type(value) is int and -_MAX_COUNT - 1 <= value <= _MAX_COUNT:
        return value
    raise NotPlain


def plain_count(value: Any) -> int:
    """``value`` if it is a non-negative bigint ``int`` (what :func:`required_count` returns)."""
    if type(value) is int and 0 <= value <= _MAX_COUNT:
        return value
    raise NotPlain


def plain_time(value: Any) -> datetime:
    """The UTC instant of an ISO 8601 string (as :func:`optional_time` reads a present one)."""
    if type(value) is not str:
        raise NotPlain
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is UTC else _utc(parsed)
