"""The history ``drip-bridge demo`` sends: several weeks of one realm, up to now.

Pure: everything comes from the arguments (realm, member count, days, seed, the clock value and
the streak calendar), so the same seed gives the same events for the same ``now``. Each member
draws from a generator of their own, so ``member-1`` lives the same history whatever the member
count. Events are shaped by :mod:`devstack.samples` (the guide's payloads); this module
decides who does what, and when.

Who does what:
    member-1    joins on the first day, an active streak that includes today, points,
                purchases today and on earlier days, a custom event
    member-2    an active streak that ends yesterday, a purchase today
    member-3    a broken streak (its last run ended days ago)
    member-4, every fifth after it
                leaves the realm, after some completions
    the rest    join within the first half of the window and complete quests on random days

Every completion of the daily quest comes with its points award (``newBalance`` grows with
event time per member); some days also bring a check-in award. One points award for the realm
has no ``data.member.id``: the receiver takes it (it is verified) and the leaderboard group
dead-letters it, so ``dead_letters`` has a row to show.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import Enum
from typing import Any

from core.contract import EventType
from devstack.samples import sample_event, stable_id

DEFAULT_REALM = "demo-realm"
"""The realm the README's queries filter on."""

MIN_MEMBERS = 4
"""Members 1 to 4 each play a part the README's queries show (see the module docstring)."""
MAX_MEMBERS = 5_000
MIN_DAYS = 7
"""Room for a broken streak and a gap before the active runs."""
MAX_DAYS = 366

CUSTOM_TYPE = "app.badge.earned"
"""A type DRIP's guide does not document: the receiver routes it to the ``other`` topic."""

_DAILY_QUEST = "Daily Engagement"
_LEAVER_EVERY = 5
_SPORADIC_ODDS = 0.4
_CHECKIN_ODDS = 0.3
_PURCHASE_ODDS = 0.5
_CUSTOM_ODDS = 0.1

# Where in its day an action falls, as a fraction of the day's elapsed window: joining comes
# first, then check-ins and quest starts, then completions. Keeping the bands apart keeps a
# member's balance-changing events in distinct, ordered instants.
_JOIN = (0.0, 0.1)
_EARLY = (0.1, 0.5)
_LATE = (0.5, 1.0)
_ANY = (0.1, 1.0)


@dataclass(frozen=True, slots=True)
class DemoEvent:
    """One event to send, and whether it is the one meant to become a dead letter."""

    event: dict[str, Any]
    unusable: bool = False

    @property
    def type(self) -> str:
        return str(self.event["type"])


class _Streak(Enum):
    ACTIVE_TODAY = "active today"
    ACTIVE_YESTERDAY = "active yesterday"
    BROKEN = "broken"
    SPORADIC = "sporadic"


@dataclass(frozen=True, slots=True)
class _Action:
    at: datetime
    kind: str  # an event type, or _CHECKIN for a points award without a quest


_CHECKIN = "check-in"


def member_ids(count: int) -> list[str]:
    """``member-1`` ... ``member-<count>``: the ids the README's examples name."""
    return [f"member-{n}" for n in range(1, count + 1)]


def _clock(day: date, band: tuple[float, float], rng: random.Random, now: datetime) -> datetime:
    """An instant of ``day`` (in ``now``'s zone) inside ``band`` of its elapsed part."""
    # In UTC: arithmetic between two times of one ZoneInfo would count wall-clock hours.
    start = datetime.combine(day, time(0), tzinfo=now.tzinfo).astimezone(UTC)
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=now.tzinfo)
    end = min(midnight.astimezone(UTC), now.astimezone(UTC))
    low, high = band
    return start + (end - start) * rng.uniform(low, high)


def _run(end: date, length: int) -> set[date]:
    return {end - timedelta(days=k) for k in range(length)}


def _quest_days(
    streak: _Streak, first: date, last: date, today: date, rng: random.Random
) -> set[date]:
    """Days with a completion between ``first`` and ``last`` (both included)."""
    span = (last - first).days + 1
    sporadic = {first + timedelta(days=k) for k in range(span) if rng.random() < _SPORADIC_ODDS}
    if streak is _Streak.SPORADIC:
        return sporadic
    if streak is _Streak.BROKEN:
        end = max(first, today - timedelta(days=rng.randint(3, 5)))
    else:
        end = today if streak is _Streak.ACTIVE_TODAY else today - timedelta(days=1)
    end = min(end, last)
    length = rng.randint(2, max(2, min(10, (end - first).days)))
    run = {day for day in _run(end, length) if day >= first}
    # A day without a completion just before the run, so the run is its own streak.
    gap = end - timedelta(days=length)
    return {day for day in sporadic if day < gap} | run


def _actions(n: int, days: int, rng: random.Random, now: datetime) -> list[_Action]:
    """What member ``n`` does, in time order."""
    today = now.date()
    window_start = today - timedelta(days=days - 1)
    if n <= 3:
        joined_on = window_start
    else:
        joined_on = window_start + timedelta(days=rng.randrange(0, max(1, days // 2)))
    streak = {1: _Streak.ACTIVE_TODAY, 2: _Streak.ACTIVE_YESTERDAY, 3: _Streak.BROKEN}.get(
        n, rng.choice(list(_Streak))
    )
    leaves = n >= 4 and (n - 4) % _LEAVER_EVERY == 0
    last_active = today
    if leaves:  # active from joining to a day before today, gone the day after
        streak = _Streak.SPORADIC
        last_active = joined_on + timedelta(days=rng.randint(0, (today - joined_on).days - 1))

    actions = [_Action(_clock(joined_on, _JOIN, rng, now), EventType.MEMBER_JOINED)]
    actions.append(_Action(_clock(joined_on, _EARLY, rng, now), EventType.QUEST_STARTED))
    for day in sorted(_quest_days(streak, joined_on, last_active, today, rng)):
        actions.append(_Action(_clock(day, _LATE, rng, now), EventType.QUEST_COMPLETED))
        if rng.random() < _CHECKIN_ODDS:
            actions.append(_Action(_clock(day, _EARLY, rng, now), _CHECKIN))
    active_days = (last_active - joined_on).days + 1
    purchase_days = [joined_on + timedelta(days=rng.randrange(active_days))]
    if n == 1:
        purchase_days += [joined_on + timedelta(days=rng.randrange(active_days)), today]
    elif n == 2:
        purchase_days.append(today)
    elif rng.random() >= _PURCHASE_ODDS:
        purchase_days = []
    for day in purchase_days:
        actions.append(_Action(_clock(day, _ANY, rng, now), EventType.PURCHASE_COMPLETED))
    if n == 1 or rng.random() < _CUSTOM_ODDS:
        day = joined_on + timedelta(days=rng.randrange(active_days))
        actions.append(_Action(_clock(day, _ANY, rng, now), CUSTOM_TYPE))
    if leaves:
        left_on = last_active + timedelta(days=1)
        actions.append(_Action(_clock(left_on, _ANY, rng, now), EventType.MEMBER_LEFT))
    return sorted(actions, key=lambda action: action.at)


def _member_events(
    realm: str, member: str, actions: list[_Action], rng: random.Random
) -> list[DemoEvent]:
    """The events of ``actions``; each award lifts the member's balance (``newBalance``)."""
    events: list[DemoEvent] = []
    balance = 0
    daily = {"id": stable_id("quest", realm, _DAILY_QUEST), "name": _DAILY_QUEST, "type": "daily"}

    def make(kind: str, at: datetime) -> dict[str, Any]:
        return sample_event(kind, realm=realm, member=member, rng=rng, now=at, balance=balance)

    for action in actions:
        if action.kind == EventType.QUEST_COMPLETED:
            completion = make(EventType.QUEST_COMPLETED, action.at)
            completion["data"]["quest"] = dict(daily)
            events.append(DemoEvent(completion))
            award = make(EventType.POINTS_AWARDED, action.at)
            reward = completion["data"]["rewards"][0]["amount"]
            award["data"]["points"]["amount"] = reward
            award["data"]["reason"] = "Completed daily quest"
            award["data"]["newBalance"] = balance + reward
        elif action.kind == _CHECKIN:
            award = make(EventType.POINTS_AWARDED, action.at)
            award["data"]["reason"] = "Daily check-in"
        else:
            events.append(DemoEvent(make(action.kind, action.at)))
            continue
        balance = award["data"]["newBalance"]
        events.append(DemoEvent(award))
    return events


def _unusable(realm: str, rng: random.Random, now: datetime) -> DemoEvent:
    """A verified points award without ``data.member.id``: no group can credit anyone."""
    award = sample_event(
        EventType.POINTS_AWARDED,
        realm=realm,
        member="member-1",
        rng=rng,
        now=_clock(now.date(), _ANY, rng, now),
    )
    del award["data"]["member"]["id"]
    return DemoEvent(award, unusable=True)


def _sort_key(item: DemoEvent) -> str:
    return str(item.event["timestamp"])


def demo_history(
    *,
    realm: str = DEFAULT_REALM,
    members: int,
    days: int,
    seed: int,
    now: datetime,
    tz: tzinfo = UTC,
) -> list[DemoEvent]:
    """The realm's history over the ``days`` calendar days (in ``tz``) ending with ``now``'s.

    ``now`` must be timezone-aware; no event is later than it. Events come in time order.
    """
    if not MIN_MEMBERS <= members <= MAX_MEMBERS:
        raise ValueError(f"members must be {MIN_MEMBERS} to {MAX_MEMBERS}, not {members}")
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"days must be {MIN_DAYS} to {MAX_DAYS}, not {days}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local_now = now.astimezone(tz)
    history: list[DemoEvent] = []
    for n, member in enumerate(member_ids(members), 1):
        rng = random.Random(f"{seed}/{realm}/{member}")
        history += _member_events(realm, member, _actions(n, days, rng, local_now), rng)
    history.append(_unusable(realm, random.Random(f"{seed}/{realm}/unusable"), local_now))
    return sorted(history, key=_sort_key)
