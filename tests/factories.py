"""Test data: DRIP events shaped like the samples in DRIP's webhook guide, and signatures."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

TEST_SECRET = "test-webhook-secret-0123456789"

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


def make_event(event_type: str, **overrides: Any) -> dict[str, Any]:
    """A guide-shaped event of ``event_type``; top-level keys in ``overrides`` replace its own."""
    base = GUIDE_SAMPLES.get(event_type) or {
        "type": event_type,
        "timestamp": "2024-01-20T18:00:00Z",
        "realmId": "507f1f77bcf86cd799439011",
        "data": {"note": "custom event"},
    }
    event = copy.deepcopy(base)
    event.update(overrides)
    return event


def pretty_body(event: dict[str, Any]) -> bytes:
    """The event as DRIP might send it: indented, non-ASCII kept."""
    return json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")


def sign(body: bytes, secret: str = TEST_SECRET) -> str:
    """The ``X-Drip-Signature`` header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
