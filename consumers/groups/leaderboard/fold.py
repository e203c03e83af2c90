"""A batch of leaderboard rows folded to one value per key, by the SQL's last-writer-wins rules.

Pure, no I/O. :func:`fold` turns a batch of :mod:`.leaderboard_rows` rows into what the SQL
writes: one patch per member, one balance per (member, realm point), one name per realm point,
each already reduced by the rules the SQL guards apply across batches, so a batch gives the same
tables as its events applied one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from consumers.groups.leaderboard.rows import Award, Joined, LeaderboardRow, Left


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
    # Per realm point, its rank (named, event time, name): a named award beats a nameless one.
    names: dict[tuple[str, str], tuple[bool, datetime, str]] = {}
    for row in rows:
        at = row.event_at
        key = (row.realm_id, row.member_id)
        patch = members.get(key)
        if patch is None:
            patch = members[key] = MemberPatch(row.realm_id, row.member_id, last_event_at=at)
        elif patch.last_event_at is None or at > patch.last_event_at:
            patch.last_event_at = at
        if type(row) is Award:
            _username(patch, row.username, at)
            event_id = row.event_id
            if event_id not in awards:
                awards[event_id] = row
            bkey = (row.realm_id, row.member_id, row.realm_point_id)
            held = balances.get(bkey)
            if held is None or (at, event_id) > (held.event_at, held.event_id):
                balances[bkey] = row
            pkey = (row.realm_id, row.realm_point_id)
            mine = (row.point_name is not None, at, row.point_name or "")
            known = names.get(pkey)
            if known is None or mine > known:
                names[pkey] = mine
        elif type(row) is Joined:
            if patch.joined_event_at is None or at > patch.joined_event_at:
                patch.display_name, patch.joined_at, patch.joined_event_at = (
                    row.display_name,
                    row.joined_at,
                    at,
                )
            _username(patch, row.username, at)
        elif type(row) is Left and (patch.left_event_at is None or at > patch.left_event_at):
            patch.left_at, patch.left_event_at = row.left_at, at
    return Folded(
        members=[members[k] for k in sorted(members)],
        awards=list(awards.values()),
        balances=[balances[k] for k in sorted(balances)],
        points=[
            PointName(*k, name if named else None, name_at)
            for k, (named, name_at, name) in sorted(names.items())
        ],
    )


def _username(patch: MemberPatch, username: str | None, at: datetime) -> None:
    if username is not None and (
        patch.username_at is None or (at, username) > (patch.username_at, patch.username or "")
    ):
        patch.username, patch.username_at = username, at
