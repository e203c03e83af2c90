"""A corpus of poison events: verified events that some group cannot store.

Each case names the groups that must dead-letter it; every other group that reads its topic
stores it. Cases are built the way DRIP could send them (a signed body the receiver accepts),
so the same corpus serves the consumer runtime's tests and end-to-end runs through the receiver.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from tests.factories import make_event

# Random hex does not compress: PostgreSQL's index tuple compression cannot shrink it under
# the btree row limit (about 2,700 bytes), as it would a run of one letter.
_RANDOM = random.Random(15)
LONG_ID = _RANDOM.randbytes(1500).hex()
LONG_TYPE = "app." + _RANDOM.randbytes(2000).hex()

FAR_FUTURE = "2999-01-01T00:00:00Z"


@dataclass(frozen=True)
class Poison:
    """One poison event: its id, its body, and the groups that cannot store it."""

    event_id: str
    event_type: str
    body: bytes
    dead_in: frozenset[str]


def corpus(tag: str) -> list[Poison]:
    """The corpus with event ids of its own (``<tag>-poison-<case>``): tests share tables."""
    return [
        Poison(
            f"{tag}-{p.event_id}",
            p.event_type,
            p.body.replace(b'"id":"poison-', f'"id":"{tag}-poison-'.encode(), 1),
            p.dead_in,
        )
        for p in CORPUS
    ]


def _event(name: str, event_type: str, dead_in: set[str], **changes: Any) -> Poison:
    event = make_event(event_type, id=f"poison-{name}")
    for path, value in changes.items():
        node = event
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return Poison(f"poison-{name}", event_type, orjson.dumps(event), frozenset(dead_in))


def _raw(name: str, event_type: str, dead_in: set[str], body: bytes) -> Poison:
    return Poison(f"poison-{name}", event_type, body, frozenset(dead_in))


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"next": value}
    return value


_AWARD = "member.points.awarded"
_COMPLETED = "quest.completed"
_PURCHASE = "store.purchase.completed"
_AWARD_TEXT = orjson.dumps(make_event(_AWARD)).decode()

CORPUS: list[Poison] = [
    # 9999-12-31T23:00:00-05:00 is a valid time whose UTC instant is in year 10000.
    _event("utc-overflow", _AWARD, {"leaderboard"}, timestamp="9999-12-31T23:00:00-05:00"),
    _event(
        "year-one",
        _COMPLETED,
        {"streaks"},
        timestamp="0001-01-01T00:00:00+01:00",
        data__completedAt="0001-01-01T00:00:00+01:00",
    ),
    _event(
        "offset-past-a-day", _COMPLETED, {"streaks"}, data__completedAt="2024-01-20T16:15+25:00"
    ),
    # Over the btree row limit of members' primary key: SQLSTATE 54, not a retry.
    _event("long-member-id", _AWARD, {"leaderboard"}, data__member__id=LONG_ID),
    _event("long-realm-id", _PURCHASE, {"purchases", "archive"}, realmId=LONG_ID),
    _event("long-custom-type", LONG_TYPE, {"archive"}, type=LONG_TYPE),
    _event("future-award", _AWARD, {"leaderboard"}, timestamp=FAR_FUTURE),
    _event(
        "future-completion",
        _COMPLETED,
        {"streaks"},
        timestamp=FAR_FUTURE,
        data__completedAt=FAR_FUTURE,
    ),
    _event("future-purchase", _PURCHASE, {"purchases"}, data__purchase__completedAt=FAR_FUTURE),
    _event("nul-in-reason", _AWARD, {"leaderboard", "archive"}, data__reason="a\x00b"),
    # "C:\\u0000dir" is a backslash followed by the text u0000: no NUL, stored everywhere.
    _event("escaped-backslash", _AWARD, set(), data__reason="C:\\u0000dir"),
    _event("deep-but-allowed", _AWARD, set(), data__extra=_nested(40)),
    _event("negative-cost", _PURCHASE, {"purchases"}, data__purchase__item__cost=-5),
    _event("boolean-amount", _AWARD, {"leaderboard"}, data__points__amount=True),
    _event("data-not-an-object", _AWARD, {"leaderboard"}, data="a string"),
    _raw(
        "huge-balance",
        _AWARD,
        {"leaderboard"},
        _AWARD_TEXT.replace('"newBalance":1250', '"newBalance":1000000000000000000000000000000')
        .replace('{"type"', '{"id":"poison-huge-balance","type"', 1)
        .encode(),
    ),
    _raw(
        "lone-surrogate",
        _AWARD,
        {"leaderboard", "archive"},
        _AWARD_TEXT.replace('"member123"', '"\\ud800"')
        .replace('{"type"', '{"id":"poison-lone-surrogate","type"', 1)
        .encode(),
    ),
]
