"""Pre-signed webhook requests for the load generator: guide-shaped events, varied members.

Bodies are built from the guide's samples with members, quests, items and amounts varied and
a free-text field grown so sizes spread over 500-800 bytes, as real deliveries would.
"""

from __future__ import annotations

import copy
import random
import struct
from pathlib import Path
from typing import Any

from core.contract import signature_header as sign
from devstack.samples import GUIDE_SAMPLES, pretty_body

# Rough mix of a live realm: points and quests dominate, joins and purchases are rarer.
_MIX = {
    "member.points.awarded": 40,
    "quest.completed": 20,
    "quest.started": 15,
    "member.joined": 8,
    "store.purchase.completed": 7,
    "member.left": 5,
    "custom.app.event": 5,
}
_WORDS = [
    "daily",
    "quest",
    "streak",
    "bonus",
    "reward",
    "weekly",
    "event",
    "raid",
    "community",
    "points",
    "level",
]


def _oid(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _text(rng: random.Random, length: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(rng.choice(_WORDS))
    return " ".join(words)[:length].capitalize()


def _event(rng: random.Random, event_type: str, member: str, minute: int) -> dict[str, Any]:
    base = GUIDE_SAMPLES.get(event_type) or {
        "type": event_type,
        "timestamp": "",
        "realmId": "507f1f77bcf86cd799439011",
        "data": {"member": {"id": ""}, "action": "custom"},
    }
    event = copy.deepcopy(base)
    stamp = f"2024-01-{20 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z"
    event["timestamp"] = stamp
    data = event["data"]
    holder = data.get("purchase", data)
    if "member" in holder:
        holder["member"]["id"] = member
        holder["member"]["username"] = f"member{int(member[:6], 16)}"
    else:
        data["memberId"] = member
    if "points" in data:
        data["points"]["amount"] = rng.choice((10, 25, 50, 100, 250))
        data["newBalance"] = rng.randint(100, 50_000)
    if "quest" in data:
        data["quest"]["id"] = _oid(rng)
    if "purchase" in data:
        data["purchase"]["id"] = _oid(rng)
        data["purchase"]["item"]["cost"] = rng.choice((100, 500, 1000, 5000))
    return event


def _grow(event: dict[str, Any], target: int, rng: random.Random) -> bytes:
    """The pretty body, with a descriptive field grown until it is about ``target`` bytes."""
    data = event["data"]
    body = pretty_body(event)
    field = "reason" if "reason" in data else "description"
    holder = data.get("quest") or data.get("purchase", {}).get("item") or data
    if len(body) < target:
        holder[field] = _text(rng, target - len(body) - len(field) - 10)
        body = pretty_body(event)
    return body


def bodies(count: int, seed: int = 7) -> list[bytes]:
    """``count`` distinct event bodies of 500-800 bytes over ``count / 8`` members."""
    rng = random.Random(seed)
    members = [_oid(rng) for _ in range(max(1, count // 8))]
    types = rng.choices(list(_MIX), weights=list(_MIX.values()), k=count)
    return [
        _grow(_event(rng, t, rng.choice(members), i), rng.randint(500, 800), rng)
        for i, t in enumerate(types)
    ]


def write_requests(path: Path, bodies: list[bytes], secret: str, target: str) -> None:
    """Raw HTTP/1.1 requests, each prefixed by its 4-byte big-endian length."""
    with path.open("wb") as out:
        for body in bodies:
            request = (
                f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: drip-bench\r\n"
                f"Content-Type: application/json\r\nX-Drip-Signature: {sign(body, secret)}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode("ascii") + body
            out.write(struct.pack(">I", len(request)) + request)
