"""Sample DRIP events for ``drip-bridge send-test``, shaped exactly like the guide's payloads.

Pure: every value comes from the arguments (a random generator, a clock value, a balance), so
tests can pin them. Each call yields a different event (new timestamp, new ids, new amounts), so
sending several really changes the analytics tables instead of being de-duplicated as retries.
Quests, store items and the realm's point currency get ids derived from the realm, so repeated
runs hit the same quests and items, as a real community would.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from core.contract import EventType

DEMO_REALM = "507f1f77bcf86cd799439011"
"""The realm id of the guide's samples, used when no realm is configured."""

_QUESTS = (("Daily Engagement", "daily"), ("Weekly Challenge", "weekly"), ("Say Hello", "once"))
_ITEMS = (("VIP Role", 1000), ("Custom Emoji", 250), ("Raffle Ticket", 50), ("Merch Code", 2500))
_REASONS = ("Completed daily quest", "Daily check-in", "Invited a friend", "Event attendance")
_AMOUNTS = (10, 25, 50, 100, 150, 250)


def object_id(rng: random.Random, at: datetime) -> str:
    """A fresh id in DRIP's format (a MongoDB ObjectId: 4 bytes of seconds, 8 random bytes)."""
    return f"{int(at.timestamp()) & 0xFFFFFFFF:08x}{rng.getrandbits(64):016x}"


def stable_id(*parts: str) -> str:
    """An ObjectId-shaped id that is the same every time for the same ``parts``."""
    return hashlib.sha256("/".join(parts).encode("utf-8")).hexdigest()[:24]


def iso(at: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix, like the guide's timestamps."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _username(member: str) -> str:
    return "member" + str(int(stable_id("user", member)[:8], 16) % 100_000)


def _member_ref(member: str) -> dict[str, Any]:
    return {"id": member, "username": _username(member)}


def _quest(realm: str, rng: random.Random) -> tuple[str, str, str]:
    name, kind = rng.choice(_QUESTS)
    return stable_id("quest", realm, name), name, kind


def _data(
    event_type: str, realm: str, member: str, rng: random.Random, now: datetime, balance: int
) -> dict[str, Any]:
    when = iso(now)
    if event_type == EventType.MEMBER_JOINED:
        username = _username(member)
        return {
            "member": {
                "id": member,
                "username": username,
                "displayName": username.replace("member", "Member "),
                "joinedAt": when,
                "credentials": [
                    {"type": "discord", "platformId": str(rng.randrange(10**17, 10**18))}
                ],
            }
        }
    if event_type == EventType.MEMBER_LEFT:
        return {"memberId": member, "leftAt": when}
    if event_type == EventType.POINTS_AWARDED:
        amount = rng.choice(_AMOUNTS)
        currency = {"id": stable_id("points", realm, "XP"), "name": "XP", "emoji": "⭐"}
        return {
            "member": _member_ref(member),
            "points": {"amount": amount, "realmPoint": currency},
            "reason": rng.choice(_REASONS),
            "newBalance": balance + amount,
        }
    if event_type == EventType.QUEST_COMPLETED:
        quest_id, name, kind = _quest(realm, rng)
        reward = {
            "type": "points",
            "amount": rng.choice(_AMOUNTS),
            "realmPointId": stable_id("points", realm, "XP"),
        }
        return {
            "quest": {"id": quest_id, "name": name, "type": kind},
            "member": _member_ref(member),
            "completedAt": when,
            "rewards": [reward],
        }
    if event_type == EventType.QUEST_STARTED:
        quest_id, name, _ = _quest(realm, rng)
        return {
            "quest": {"id": quest_id, "name": name},
            "member": _member_ref(member),
            "startedAt": when,
        }
    if event_type == EventType.PURCHASE_COMPLETED:
        name, cost = rng.choice(_ITEMS)
        return {
            "purchase": {
                "id": object_id(rng, now),
                "item": {"id": stable_id("item", realm, name), "name": name, "cost": cost},
                "member": _member_ref(member),
                "completedAt": when,
            }
        }
    # A custom event from another app: DRIP forwards these with a type of the app's choosing.
    app, _, action = event_type.rpartition(".")
    return {
        "app": {
            "id": stable_id("app", realm, app or event_type),
            "name": (app or "custom").title(),
        },
        "member": _member_ref(member),
        "action": action,
        "value": rng.randint(1, 100),
        "occurredAt": when,
    }


def sample_event(
    event_type: str,
    *,
    realm: str,
    member: str,
    rng: random.Random,
    now: datetime,
    balance: int = 0,
) -> dict[str, Any]:
    """One event of ``event_type`` at ``now``; a points award lifts ``balance`` to newBalance.

    Documented types follow the guide's payload field for field; any other type becomes a
    plausible custom-app event (``data.app``, ``data.member``, ``data.action``).
    """
    return {
        "type": event_type,
        "timestamp": iso(now),
        "realmId": realm,
        "data": _data(event_type, realm, member, rng, now, balance),
    }


class SampleSeries:
    """Events of one member in one realm: strictly later timestamps, a growing point balance."""

    def __init__(self, realm: str, member: str, rng: random.Random, start: datetime) -> None:
        self.realm = realm
        self.member = member
        self.rng = rng
        self.balance = rng.randrange(0, 2000, 10)
        self._clock = start

    def next(self, event_type: str) -> dict[str, Any]:
        """The next event; at least a millisecond after the previous one."""
        self._clock += timedelta(milliseconds=self.rng.randint(1, 5))
        event = sample_event(
            event_type,
            realm=self.realm,
            member=self.member,
            rng=self.rng,
            now=self._clock,
            balance=self.balance,
        )
        if event_type == EventType.POINTS_AWARDED:
            self.balance = event["data"]["newBalance"]
        return event


# The payloads of DRIP's webhook guide, as documented.
GUIDE_SAMPLES: dict[str, dict[str, Any]] = {
    "member.joined": {
        "type": "member.joined",
        "timestamp": "2024-01-20T15:30:00Z",
        "realmId": "507f1f77bcf86cd799439011",
        "data": {
            "member": {
                "id": "507f1f77bcf86cd799439013",
                "username": "newmember123",
                "displayName": "New Member",
                "joinedAt": "2024-01-20T15:30:00Z",
                "credentials": [{"type": "discord", "platformId": "123456789012345678"}],
            }
        },
    },
    "member.left": {
        "type": "member.left",
        "timestamp": "2024-01-20T16:00:00Z",
        "realmId": "507f1f77bcf86cd799439011",
        "data": {"memberId": "507f1f77bcf86cd799439013", "leftAt": "2024-01-20T16:00:00Z"},
    },
    "member.points.awarded": {
        "type": "member.points.awarded",
        "timestamp": "2024-01-20T15:45:00Z",
        "realmId": "507f1f77bcf86cd799439011",
        "data": {
            "member": {"id": "507f1f77bcf86cd799439013", "username": "member123"},
            "points": {
                "amount": 100,
                "realmPoint": {"id": "507f1f77bcf86cd799439015", "name": "XP", "emoji": "⭐"},
            },
            "reason": "Completed daily quest",
            "newBalance": 1250,
        },
    },
    "quest.completed": {
        "type": "quest.completed",
        "timestamp": "2024-01-20T16:15:00Z",
        "realmId": "507f1f77bcf86cd799439011",
        "data": {
            "quest": {
                "id": "507f1f77bcf86cd799439020",
                "name": "Daily Engagement",
                "type": "daily",
            },
            "member": {"id": "507f1f77bcf86cd799439013", "username": "member123"},
            "completedAt": "2024-01-20T16:15:00Z",
            "rewards": [
                {"type": "points", "amount": 100, "realmPointId": "507f1f77bcf86cd799439015"}
            ],
        },
    },
    "quest.started": {
        "type": "quest.started",
        "timestamp": "2024-01-20T14:00:00Z",
        "realmId": "507f1f77bcf86cd799439011",
        "data": {
            "quest": {"id": "507f1f77bcf86cd799439020", "name": "Weekly Challenge"},
            "member": {"id": "507f1f77bcf86cd799439013", "username": "member123"},
            "startedAt": "2024-01-20T14:00:00Z",
        },
    },
    "store.purchase.completed": {
        "type": "store.purchase.completed",
        "timestamp": "2024-01-20T17:00:00Z",
        "realmId": "507f1f77bcf86cd799439011",
        "data": {
            "purchase": {
                "id": "507f1f77bcf86cd799439025",
                "item": {"id": "507f1f77bcf86cd799439030", "name": "VIP Role", "cost": 1000},
                "member": {"id": "507f1f77bcf86cd799439013", "username": "member123"},
                "completedAt": "2024-01-20T17:00:00Z",
            }
        },
    },
}

# The guide's "Manual Webhook Testing" body: a points event whose realmPoint has no id.
GUIDE_TEST_POINTS: dict[str, Any] = {
    "type": "member.points.awarded",
    "timestamp": "2024-01-20T15:30:00Z",
    "realmId": "test-realm",
    "data": {
        "member": {"id": "test-member", "username": "testuser"},
        "points": {"amount": 100, "realmPoint": {"name": "XP", "emoji": "⭐"}},
        "reason": "Test webhook",
        "newBalance": 1000,
    },
}


def pretty_body(event: dict[str, Any]) -> bytes:
    """The event as DRIP might send it: indented, non-ASCII kept."""
    return json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")
