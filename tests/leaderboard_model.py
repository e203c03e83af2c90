"""A generated leaderboard event stream and the tables it must produce, computed independently.

The stream has joins, leaves, re-joins, members first seen in a points event, renames, two
realm points (one known only by name), awards delivered out of order, duplicates (adjacent and
much later) and a few unusable records. The expectation is worked out here in plain Python
from the distinct usable events, without the group's code.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.contract import event_identity
from tests.records import Raw

BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
REALMS = ("realm-a", "realm-b")
POINTS = ({"id": "pt-xp", "name": "XP", "emoji": "*"}, {"name": "Gems", "emoji": "+"})


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass
class Stream:
    """Events in delivery order, plus what is needed to check the result."""

    delivered: list[Mapping[str, Any] | Raw] = field(default_factory=list)
    usable: list[dict[str, Any]] = field(default_factory=list)
    unusable: int = 0


class _Clock:
    def __init__(self) -> None:
        self.n = 0

    def tick(self) -> datetime:
        self.n += 1
        return BASE + timedelta(seconds=self.n)


def generate(seed: int, members: int = 24, awards_per_member: int = 8) -> Stream:
    """A reproducible stream; ``members`` per realm, ``awards_per_member`` per member."""
    rng = random.Random(seed)
    clock = _Clock()
    per_member: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    ids = iter(range(10**9))

    def event(kind: str, realm: str, at: datetime, data: dict[str, Any], with_id: bool = True):
        body: dict[str, Any] = {"type": kind, "timestamp": _iso(at), "realmId": realm, "data": data}
        if with_id:
            body = {"id": f"ev-{seed}-{next(ids)}", **body}
        return body

    for realm in REALMS:
        for i in range(members):
            member = f"{realm[-1]}{i:03d}"
            story = per_member[(realm, member)]
            name = f"user{i}"
            shape = i % 6  # 0-1 plain, 2 left, 3 left and re-joined, 4 points only, 5 renamed
            if shape != 4:
                at = clock.tick()
                member_doc = {
                    "id": member,
                    "username": name,
                    "displayName": f"Member {i}",
                    "joinedAt": _iso(at),
                }
                story.append(event("member.joined", realm, at, {"member": member_doc}))
            balances = [0, 0]
            for n in range(awards_per_member):
                p = rng.randrange(2)
                amount = rng.randrange(1, 50)
                balances[p] += amount
                username = f"{name}-renamed" if shape == 5 and n >= awards_per_member // 2 else name
                data = {
                    "member": {"id": member, "username": username},
                    "points": {"amount": amount, "realmPoint": dict(POINTS[p])},
                    "reason": "quest",
                    "newBalance": balances[p],
                }
                story.append(event("member.points.awarded", realm, clock.tick(), data, n % 5 != 3))
            if shape in (2, 3):
                at = clock.tick()
                story.append(
                    event("member.left", realm, at, {"memberId": member, "leftAt": _iso(at)})
                )
            if shape == 3:
                at = clock.tick()
                member_doc = {
                    "id": member,
                    "username": name,
                    "displayName": f"Back {i}",
                    "joinedAt": _iso(at),
                }
                story.append(event("member.joined", realm, at, {"member": member_doc}))
    # A member known only from a leave, and two awards at one instant (the greater id wins).
    at = clock.tick()
    per_member[("realm-a", "ghost")].append(
        event("member.left", "realm-a", at, {"memberId": "ghost", "leftAt": _iso(at)})
    )
    tie = clock.tick()
    for n, balance in ((1, 700), (2, 650)):
        data = {
            "member": {"id": "a000", "username": "user0"},
            "points": {"amount": 1, "realmPoint": dict(POINTS[0])},
            "newBalance": balance,
        }
        per_member[("realm-a", "a000")].append(
            {
                "id": f"tie-{seed}-{n}",
                "type": "member.points.awarded",
                "timestamp": _iso(tie),
                "realmId": "realm-a",
                "data": data,
            }
        )

    stream = Stream()
    for story in per_member.values():
        stream.usable.extend(story)
    # Each member's events arrive shuffled (late joins, leaves before awards, old balances last);
    # members interleave; 10% arrive twice in a row and 10% again at the very end.
    queues = []
    for story in per_member.values():
        shuffled = list(story)
        rng.shuffle(shuffled)
        queues.append(shuffled)
    while queues:
        queue = rng.choice(queues)
        e = queue.pop()
        stream.delivered.append(e)
        if rng.random() < 0.1:
            stream.delivered.append(e)
        if not queue:
            queues.remove(queue)
    stream.delivered.extend(rng.sample(stream.usable, len(stream.usable) // 10))
    for bad in _unusable(clock):
        stream.delivered.insert(rng.randrange(len(stream.delivered)), bad)
        stream.unusable += 1
    return stream


def _unusable(clock: _Clock) -> list[Mapping[str, Any] | Raw]:
    at = _iso(clock.tick())
    award = {
        "member": {"id": "a001", "username": "user1"},
        "points": {"amount": 5, "realmPoint": {"id": "pt-xp"}},
        "newBalance": 5,
    }
    no_balance = {k: v for k, v in award.items() if k != "newBalance"}
    nameless = {**award, "points": {"amount": 5, "realmPoint": {"emoji": "?"}}}
    text_amount = {**award, "points": {"amount": "5", "realmPoint": {"id": "pt-xp"}}}
    head = {"type": "member.points.awarded", "timestamp": at, "realmId": "realm-a"}
    return [
        {"id": "bad-1", **head, "data": no_balance},
        {"id": "bad-2", **head, "data": nameless},
        {"id": "bad-3", **head, "data": text_amount},
        {
            "id": "bad-4",
            "type": "member.joined",
            "timestamp": at,
            "realmId": "realm-a",
            "data": {"member": {"username": "nobody"}},
        },
        ("member.points.awarded", b"{not json"),
        ("member.joined", b"[1, 2, 3]"),
    ]


@dataclass
class Expected:
    members: dict[tuple[str, str], tuple[Any, ...]]
    """(realm, member) -> (username, display_name, joined_at, left_at, active)"""
    balances: dict[tuple[str, str, str], tuple[int, datetime]]
    """(realm, member, realm point) -> (balance, as_of)"""
    awards: dict[str, tuple[str, str, str, int, int]]
    """event id -> (realm, member, realm point, amount, new balance)"""
    points: dict[tuple[str, str], str | None]
    leaderboard: set[tuple[str, str, int, str, str | None, int]]
    """(realm, realm point, rank, member, username, balance)"""


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expected(usable: Sequence[dict[str, Any]]) -> Expected:
    """What the tables must hold after ``usable`` (in any order, any number of times)."""
    unique = {event_identity(e): e for e in usable}
    joins: dict[tuple[str, str], list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    lefts: dict[tuple[str, str], list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    names: dict[tuple[str, str], list[tuple[datetime, str]]] = defaultdict(list)
    latest: dict[tuple[str, str, str], tuple[datetime, str, int]] = {}
    awards = {}
    point_names: dict[tuple[str, str], tuple[datetime, str]] = {}
    for event_id, e in unique.items():
        at, realm, data = _time(e["timestamp"]), e["realmId"], e["data"]
        if e["type"] == "member.joined":
            key = (realm, data["member"]["id"])
            joins[key].append((at, data["member"]))
            names[key].append((at, data["member"]["username"]))
        elif e["type"] == "member.left":
            lefts[(realm, data["memberId"])].append((at, data))
        else:
            key = (realm, data["member"]["id"])
            names[key].append((at, data["member"]["username"]))
            point = data["points"]["realmPoint"]
            pid = point.get("id") or point["name"]
            candidate = (at, event_id, data["newBalance"])
            bkey = (realm, key[1], pid)
            if bkey not in latest or candidate > latest[bkey]:
                latest[bkey] = candidate
            awards[event_id] = (realm, key[1], pid, data["points"]["amount"], data["newBalance"])
            if (realm, pid) not in point_names or (at, point["name"]) > point_names[(realm, pid)]:
                point_names[(realm, pid)] = (at, point["name"])
    members = {}
    for key in set(joins) | set(lefts) | set(names):
        join = max(joins[key], key=lambda j: j[0]) if joins[key] else None
        left = max(lefts[key], key=lambda x: x[0]) if lefts[key] else None
        active = left is None or (join is not None and left[0] <= join[0])
        members[key] = (
            max(names[key])[1] if names[key] else None,
            join[1]["displayName"] if join else None,
            _time(join[1]["joinedAt"]) if join else None,
            _time(left[1]["leftAt"]) if left else None,
            active,
        )
    balances = {k: (v[2], v[0]) for k, v in latest.items()}
    board = set()
    for (realm, member, pid), (balance, _) in balances.items():
        if not members[(realm, member)][4]:
            continue
        above = sum(
            1
            for (r, m, p), (b, _) in balances.items()
            if (r, p) == (realm, pid) and members[(r, m)][4] and b > balance
        )
        board.add((realm, pid, above + 1, member, members[(realm, member)][0], balance))
    return Expected(
        members=members,
        balances=balances,
        awards=awards,
        points={k: v[1] for k, v in point_names.items()},
        leaderboard=board,
    )
