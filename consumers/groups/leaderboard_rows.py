"""The leaderboard group's mapping: one event to a :class:`Joined`, :class:`Left` or :class:`Award`.

Pure, no I/O. ``rows_from`` validates an event and maps it; :mod:`.leaderboard_fold` reduces a
batch of the rows to what the SQL takes.

Each event is read twice at most: first on the plain path (the fields in their ordinary form,
with few checks and calls; most events), and only when that path meets anything else, by the
careful readers of :mod:`consumers.event_fields`, which decide what the event maps to or which
field makes it unusable. The plain path returns exactly what the careful one would (a unit test
holds them together), so which path ran never shows in a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consumers.event_fields import (
    NOT_PLAIN,
    NotPlain,
    event_time,
    not_ahead,
    optional_str,
    optional_time,
    plain_int,
    plain_optional_str,
    plain_str,
    plain_time,
    required_str,
)
from consumers.group import Event
from dripbridge.contract import EventType
from dripbridge.errors import UnusableEvent
from dripbridge.settings import Settings

_INT64 = 2**63
_JOINED = EventType.MEMBER_JOINED.value
_LEFT = EventType.MEMBER_LEFT.value
_AWARDED = EventType.POINTS_AWARDED.value

# The rows are not frozen: one is built per event, and a frozen dataclass sets each field
# through object.__setattr__, about four times slower. Nothing changes a row once built.


@dataclass(slots=True)
class Joined:
    """A ``member.joined`` event."""

    realm_id: str
    member_id: str
    username: str | None
    display_name: str | None
    joined_at: datetime
    event_at: datetime


@dataclass(slots=True)
class Left:
    """A ``member.left`` event."""

    realm_id: str
    member_id: str
    left_at: datetime
    event_at: datetime


@dataclass(slots=True)
class Award:
    """A ``member.points.awarded`` event; ``realm_point_id`` falls back to the point's name."""

    event_id: str
    realm_id: str
    member_id: str
    username: str | None
    realm_point_id: str
    point_name: str | None
    amount: int
    reason: str | None
    new_balance: int
    event_at: datetime


LeaderboardRow = Joined | Left | Award


def rows_from(event: Event, settings: Settings) -> LeaderboardRow:
    """Map one event; UnusableEvent names the field that is missing or has the wrong type."""
    try:
        row = _plain(event)
    except NOT_PLAIN:
        row = _careful(event)
    not_ahead(row.event_at, event.envelope, settings, "timestamp")
    return row


def _plain(event: Event) -> LeaderboardRow:
    """The row of an event whose fields all have their ordinary form; raises otherwise."""
    envelope, payload = event
    data = payload["data"]
    if type(data) is not dict:
        raise NotPlain
    at = plain_time(payload["timestamp"])
    realm_id = plain_str(payload["realmId"])
    kind = envelope.event_type
    if kind == _AWARDED:
        member, points = data["member"], data["points"]
        point = points["realmPoint"]
        point_name = plain_optional_str(point.get("name"))
        point_id = plain_optional_str(point.get("id")) or point_name
        if point_id is None or not envelope.event_id:
            raise NotPlain
        return Award(
            envelope.event_id,
            realm_id,
            plain_str(member["id"]),
            plain_optional_str(member.get("username")),
            point_id,
            point_name,
            plain_int(points["amount"]),
            plain_optional_str(data.get("reason")),
            plain_int(data["newBalance"]),
            at,
        )
    if kind == _JOINED:
        member = data["member"]
        joined = member.get("joinedAt")
        return Joined(
            realm_id,
            plain_str(member["id"]),
            plain_optional_str(member.get("username")),
            plain_optional_str(member.get("displayName")),
            at if joined is None else plain_time(joined),
            at,
        )
    if kind == _LEFT:
        member_id = plain_optional_str(data.get("memberId"))
        if member_id is None:
            member_id = plain_str(data["member"]["id"])
        left = data.get("leftAt")
        return Left(realm_id, member_id, at if left is None else plain_time(left), at)
    raise NotPlain


def _careful(event: Event) -> LeaderboardRow:
    payload = event.payload
    if not isinstance(payload.get("data"), Mapping):
        raise UnusableEvent("data is missing or not an object")
    at = optional_time(payload, "timestamp")
    if at is None:
        raise UnusableEvent("timestamp is missing")
    realm_id = required_str(payload, "realmId")
    if event.event_type == _JOINED:
        return Joined(
            realm_id=realm_id,
            member_id=required_str(payload, "data.member.id"),
            username=optional_str(payload, "data.member.username"),
            display_name=optional_str(payload, "data.member.displayName"),
            joined_at=event_time(payload, "data.member.joinedAt"),
            event_at=at,
        )
    if event.event_type == _LEFT:
        member_id = optional_str(payload, "data.memberId") or optional_str(
            payload, "data.member.id"
        )
        if member_id is None:
            raise UnusableEvent("data.memberId is missing")
        return Left(realm_id, member_id, event_time(payload, "data.leftAt"), at)
    if event.event_type == _AWARDED:
        return _award(event, payload, realm_id, at)
    raise UnusableEvent(f"the leaderboard does not read events of type {event.event_type!r}")


def _award(event: Event, payload: Mapping[str, Any], realm_id: str, at: datetime) -> Award:
    member_id = required_str(payload, "data.member.id")
    point_name = optional_str(payload, "data.points.realmPoint.name")
    point_id = optional_str(payload, "data.points.realmPoint.id") or point_name
    if point_id is None:
        raise UnusableEvent("data.points.realmPoint has neither an id nor a name")
    if not event.event_id:
        raise UnusableEvent("the record has no event id")
    return Award(
        event_id=event.event_id,
        realm_id=realm_id,
        member_id=member_id,
        username=optional_str(payload, "data.member.username"),
        realm_point_id=point_id,
        point_name=point_name,
        amount=_integer(payload, "data.points.amount"),
        reason=optional_str(payload, "data.reason"),
        new_balance=_integer(payload, "data.newBalance"),
        event_at=at,
    )


def _integer(payload: Mapping[str, Any], path: str) -> int:
    node: Any = payload
    for part in path.split("."):
        node = node.get(part) if type(node) is dict or isinstance(node, Mapping) else None
    if node is None:
        raise UnusableEvent(f"{path} is missing")
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise UnusableEvent(f"{path} must be a number, got {type(node).__name__}")
    if isinstance(node, float) and not node.is_integer():
        raise UnusableEvent(f"{path} must be a whole number, got {node}")
    if not -_INT64 <= node < _INT64:
        raise UnusableEvent(f"{path} is out of range: {node}")
    return int(node)
