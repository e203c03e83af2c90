"""The leaderboard group's mapping: one event to a :class:`Joined`, :class:`Left` or :class:`Award`.

Pure, no I/O. ``rows_from`` validates an event and maps it, with the readers of
:mod:`consumers.fields`; :mod:`.leaderboard_fold` reduces a batch of the rows to what the
SQL takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consumers.api import (
    Event,
    EventType,
    Settings,
    UnusableEvent,
    event_data,
    instant,
    integer,
    not_ahead,
    obj,
    optional_text,
    text,
)

_JOINED = EventType.MEMBER_JOINED.value
_LEFT = EventType.MEMBER_LEFT.value
_AWARDED = EventType.POINTS_AWARDED.value

# Not frozen, though nothing changes a row once built: see docs/performance.md.


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
    payload = event.payload
    data = event_data(payload)
    at = instant(payload, "timestamp", "timestamp")
    if at is None:
        raise UnusableEvent("timestamp is missing")
    not_ahead(at, event.envelope, settings, "timestamp")
    realm_id = text(payload, "realmId", "realmId")
    kind = event.event_type
    if kind == _AWARDED:
        return _award(event, data, realm_id, at)
    if kind == _JOINED:
        member = obj(data, "member", "data.member")
        return Joined(
            realm_id,
            text(member, "id", "data.member.id"),
            optional_text(member, "username", "data.member.username"),
            optional_text(member, "displayName", "data.member.displayName"),
            instant(member, "joinedAt", "data.member.joinedAt") or at,
            at,
        )
    if kind == _LEFT:
        member_id = optional_text(data, "memberId", "data.memberId") or optional_text(
            obj(data, "member", "data.member"), "id", "data.member.id"
        )
        if member_id is None:
            raise UnusableEvent("data.memberId is missing")
        return Left(realm_id, member_id, instant(data, "leftAt", "data.leftAt") or at, at)
    raise UnusableEvent(f"the leaderboard does not read events of type {kind!r}")


def _award(event: Event, data: dict[str, Any], realm_id: str, at: datetime) -> Award:
    member = obj(data, "member", "data.member")
    member_id = text(member, "id", "data.member.id")
    points = obj(data, "points", "data.points")
    point = obj(points, "realmPoint", "data.points.realmPoint")
    point_name = optional_text(point, "name", "data.points.realmPoint.name")
    point_id = optional_text(point, "id", "data.points.realmPoint.id") or point_name
    if point_id is None:
        raise UnusableEvent("data.points.realmPoint has neither an id nor a name")
    return Award(
        event.event_id,
        realm_id,
        member_id,
        optional_text(member, "username", "data.member.username"),
        point_id,
        point_name,
        integer(points, "amount", "data.points.amount"),
        optional_text(data, "reason", "data.reason"),
        integer(data, "newBalance", "data.newBalance"),
        at,
    )
