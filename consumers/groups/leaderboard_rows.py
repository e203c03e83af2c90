"""The leaderboard group's pure half: events to rows, and a batch folded to one row per key.

Nothing here does I/O. ``rows_from`` validates an event and maps it to a :class:`Joined`,
:class:`Left` or :class:`Award`; :func:`fold` turns a batch of those into what the SQL upserts
take: one patch per member, one balance per (member, realm point), one name per realm point,
each already reduced by the same last-writer-wins rules the SQL guards apply across batches,
so a batch gives the same tables as its events applied one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consumers.event_fields import event_time, optional_str, optional_time, required_str
from consumers.group import Event
from dripbridge.contract import EventType
from dripbridge.errors import UnusableEvent
from dripbridge.settings import Settings

_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class Joined:
    """A ``member.joined`` event."""

    realm_id: str
    member_id: str
    username: str | None
    display_name: str | None
    joined_at: datetime
    event_at: datetime


@dataclass(frozen=True, slots=True)
class Left:
    """A ``member.left`` event."""

    realm_id: str
    member_id: str
    left_at: datetime
    event_at: datetime


@dataclass(frozen=True, slots=True)
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
    if not isinstance(payload.get("data"), Mapping):
        raise UnusableEvent("data is missing or not an object")
    at = optional_time(payload, "timestamp")
    if at is None:
        raise UnusableEvent("timestamp is missing")
    realm_id = required_str(payload, "realmId")
    if event.event_type == EventType.MEMBER_JOINED:
        return Joined(
            realm_id=realm_id,
            member_id=required_str(payload, "data.member.id"),
            username=optional_str(payload, "data.member.username"),
            display_name=optional_str(payload, "data.member.displayName"),
            joined_at=event_time(payload, "data.member.joinedAt"),
            event_at=at,
        )
    if event.event_type == EventType.MEMBER_LEFT:
        member_id = optional_str(payload, "data.memberId") or optional_str(
            payload, "data.member.id"
        )
        if member_id is None:
            raise UnusableEvent("data.memberId is missing")
        return Left(realm_id, member_id, event_time(payload, "data.leftAt"), at)
    if event.event_type == EventType.POINTS_AWARDED:
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


@dataclass(slots=True)
class MemberPatch:
    """What one batch says about one member; None fields say nothing and change nothing.

    Mutable: :func:`fold` builds it up record by record.
    """

    realm_id: str
    member_id: str
    username: str | None = None
    username_at: datetime | None = None
    display_name: str | None = None
    joined_at: datetime | None = None
    joined_event_at: datetime | None = None
    left_at: datetime | None = None
    left_event_at: datetime | None = None
    last_event_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PointName:
    """The latest known name of a realm point (None when no event of the batch named it)."""

    realm_id: str
    realm_point_id: str
    point_name: str | None
    name_at: datetime


@dataclass(frozen=True, slots=True)
class Folded:
    """A batch reduced to one value per key, in the shapes the upserts take."""

    members: list[MemberPatch]
    awards: list[Award]
    balances: list[Award]
    points: list[PointName]


def fold(rows: Sequence[LeaderboardRow]) -> Folded:
    """Reduce a batch (in offset order) by the rules the SQL guards apply across batches.

    - join / leave: the latest by event time wins; on a tie the earlier record wins, as a
      strict ``>`` guard keeps the stored one (a member's events share one partition).
    - username: the latest by (event time, username), from joins and awards alike.
    - balance: the award with the greatest (event time, event id).
    - realm point name: a named award beats a nameless one, then greatest (event time, name).
    - awards: one per event id, the first one.

    Keys come out sorted, so two transactions that touch the same rows lock them in one order.
    """
    members: dict[tuple[str, str], MemberPatch] = {}
    awards: dict[str, Award] = {}
    balances: dict[tuple[str, str, str], Award] = {}
    points: dict[tuple[str, str], PointName] = {}
    for row in rows:
        key = (row.realm_id, row.member_id)
        patch = members.get(key)
        if patch is None:
            patch = members[key] = MemberPatch(*key)
        _patch(patch, row)
        if isinstance(row, Award):
            awards.setdefault(row.event_id, row)
            bkey = (row.realm_id, row.member_id, row.realm_point_id)
            held = balances.get(bkey)
            if held is None or (row.event_at, row.event_id) > (held.event_at, held.event_id):
                balances[bkey] = row
            pkey = (row.realm_id, row.realm_point_id)
            known = points.get(pkey)
            mine = (row.point_name is not None, row.event_at, row.point_name or "")
            if known is None or mine > _name_rank(known):
                points[pkey] = PointName(*pkey, row.point_name, row.event_at)
    return Folded(
        members=[members[k] for k in sorted(members)],
        awards=list(awards.values()),
        balances=[balances[k] for k in sorted(balances)],
        points=[points[k] for k in sorted(points)],
    )


def _name_rank(name: PointName) -> tuple[bool, datetime, str]:
    return (name.point_name is not None, name.name_at, name.point_name or "")


def _patch(patch: MemberPatch, row: LeaderboardRow) -> None:
    at = row.event_at
    if patch.last_event_at is None or at > patch.last_event_at:
        patch.last_event_at = at
    if isinstance(row, Left):
        if patch.left_event_at is None or at > patch.left_event_at:
            patch.left_at, patch.left_event_at = row.left_at, at
        return
    if isinstance(row, Joined) and (patch.joined_event_at is None or at > patch.joined_event_at):
        patch.display_name, patch.joined_at, patch.joined_event_at = (
            row.display_name,
            row.joined_at,
            at,
        )
    if row.username is not None and (
        patch.username_at is None or (at, row.username) > (patch.username_at, patch.username or "")
    ):
        patch.username, patch.username_at = row.username, at
