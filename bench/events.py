"""Sample event streams for the consumer benchmarks, one generator per registered group.

Streams look like a busy realm: many members, realistic payload sizes. Leaderboard events come
in time order. Quest completions and purchases carry times spread at random over their period,
so most of a member's streak days arrive after a later one: the streaks group's costly path
(recomputing from every stored day), not the in-order one of live traffic.
A group added to the registry gets a generator here to be benchmarked.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from core import contract
from core.settings import Settings

START = datetime(2024, 6, 1, tzinfo=UTC)
Event = dict[str, Any]


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def leaderboard(count: int, seed: int = 1) -> Iterator[Event]:
    """Points awards (90%), joins and leaves across 5 realms, 20,000 members, 2 realm points."""
    rng = random.Random(seed)
    balances: dict[tuple[int, int, int], int] = {}
    for n in range(count):
        at = START + timedelta(milliseconds=37 * n)
        realm, member = rng.randrange(5), rng.randrange(20000)
        head = {"id": f"lb-{seed}-{n}", "timestamp": _iso(at), "realmId": f"realm-{realm}"}
        roll = rng.random()
        if roll < 0.08:
            doc = {
                "id": f"m{member}",
                "username": f"user{member}",
                "displayName": f"Member {member}",
                "joinedAt": _iso(at),
            }
            yield {"type": "member.joined", **head, "data": {"member": doc}}
        elif roll < 0.10:
            yield {
                "type": "member.left",
                **head,
                "data": {"memberId": f"m{member}", "leftAt": _iso(at)},
            }
        else:
            point = rng.randrange(2)
            amount = rng.randrange(1, 200)
            key = (realm, member, point)
            balances[key] = balances.get(key, 0) + amount
            realm_point = {"id": f"pt-{point}", "name": ("XP", "Gems")[point], "emoji": "*"}
            data: dict[str, Any] = {
                "member": {"id": f"m{member}", "username": f"user{member}"},
                "points": {"amount": amount, "realmPoint": realm_point},
                "reason": "Completed daily quest",
                "newBalance": balances[key],
            }
            yield {"type": "member.points.awarded", **head, "data": data}


def streaks(count: int, seed: int = 1) -> Iterator[Event]:
    """Quest completions by 10,000 members over 60 days."""
    rng = random.Random(seed)
    for n in range(count):
        at = START + timedelta(days=rng.randrange(60), seconds=rng.randrange(86400))
        member = rng.randrange(10000)
        quest = rng.randrange(50)
        yield {
            "id": f"st-{seed}-{n}",
            "type": "quest.completed",
            "timestamp": _iso(at),
            "realmId": f"realm-{member % 5}",
            "data": {
                "quest": {"id": f"q{quest}", "name": f"Quest {quest}", "type": "daily"},
                "member": {"id": f"m{member}", "username": f"user{member}"},
                "completedAt": _iso(at),
                "rewards": [{"type": "points", "amount": 100, "realmPointId": "pt-0"}],
            },
        }


def purchases(count: int, seed: int = 1) -> Iterator[Event]:
    """Store purchases of 40 items by 10,000 members over 30 days."""
    rng = random.Random(seed)
    for n in range(count):
        at = START + timedelta(days=rng.randrange(30), seconds=rng.randrange(86400))
        member, item = rng.randrange(10000), rng.randrange(40)
        yield {
            "id": f"pu-{seed}-{n}",
            "type": "store.purchase.completed",
            "timestamp": _iso(at),
            "realmId": f"realm-{member % 5}",
            "data": {
                "purchase": {
                    "id": f"purchase-{seed}-{n}",
                    "item": {"id": f"item{item}", "name": f"Item {item}", "cost": 50 * (item + 1)},
                    "member": {"id": f"m{member}", "username": f"user{member}"},
                    "completedAt": _iso(at),
                }
            },
        }


GENERATORS: dict[str, Callable[[int], Iterator[Event]]] = {
    "leaderboard": leaderboard,
    "streaks": streaks,
    "purchases": purchases,
}


async def fill(settings: Settings, events: Iterator[Event]) -> int:
    """Publish ``events`` as the receiver would (contract topic, key, headers); returns count."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    sent, pending = 0, []
    try:
        for event in events:
            event_id = contract.event_identity(event)
            headers = contract.build_headers(
                event_id, event["type"], contract.realm_id_of(event), datetime.now(UTC), "raw"
            )
            topic = contract.topic_for(settings.topic_prefix, event["type"])
            value = orjson.dumps(event)
            pending.append(
                await producer.send(topic, value, key=contract.key_for(event), headers=headers)
            )
            sent += 1
            if len(pending) >= 5000:
                for future in pending:
                    await future
                pending.clear()
        for future in pending:
            await future
    finally:
        await producer.stop()
    return sent
