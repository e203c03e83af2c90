"""The demo history (who does what, and when) and `drip-bridge demo` against a loopback receiver
that verifies each signature itself."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner, Result

from core.contract import EventType, event_identity, member_id_of, realm_id_of, topic_for
from core.exit_codes import ExitCode
from devstack.demo import CUSTOM_TYPE, DemoEvent, demo_history, member_ids
from dripbridge.cli import app
from dripbridge.demo_cli import MAX_ATTEMPTS, MAX_IN_FLIGHT, send_history
from tests.factories import TEST_SECRET
from tests.http_standins import Fault, ReceiverStandin
from tests.ports import free_port

NOW = datetime(2025, 3, 12, 15, 30, 0, 250000, tzinfo=UTC)
J, L, P, S, C, B = (
    EventType.MEMBER_JOINED,
    EventType.MEMBER_LEFT,
    EventType.POINTS_AWARDED,
    EventType.QUEST_STARTED,
    EventType.QUEST_COMPLETED,
    EventType.PURCHASE_COMPLETED,
)


def _time(event: DemoEvent) -> datetime:
    return datetime.fromisoformat(event.event["timestamp"])


def _history(
    members: int = 25, days: int = 42, seed: int = 1, now: datetime = NOW, tz: str = "UTC"
) -> list[DemoEvent]:
    return demo_history(
        realm="demo-realm", members=members, days=days, seed=seed, now=now, tz=ZoneInfo(tz)
    )


def _completion_days(history: list[DemoEvent], tz: str) -> dict[str, set[date]]:
    days: dict[str, set[date]] = defaultdict(set)
    for item in history:
        if item.type == C:
            completed = datetime.fromisoformat(item.event["data"]["completedAt"])
            days[str(member_id_of(item.event))].add(completed.astimezone(ZoneInfo(tz)).date())
    return days


def _leavers(members: int) -> int:
    return len(range(4, members + 1, 5))


@pytest.mark.parametrize(
    ("members", "days", "seed"), [(4, 7, 1), (5, 7, 2), (25, 42, 1), (60, 90, 3), (9, 366, 4)]
)
def test_counts_by_type(members: int, days: int, seed: int) -> None:
    history = _history(members, days, seed)
    counts = Counter(item.type for item in history)
    awards = [item.event["data"] for item in history if item.type == P and not item.unusable]
    quest_awards = [a for a in awards if a["reason"] == "Completed daily quest"]

    assert counts[J] == counts[S] == members
    assert counts[L] == _leavers(members) >= 1
    assert counts[C] == len(quest_awards) >= 2 * 3  # members 1-3 have runs of 2 days or more
    assert counts[B] >= 3 + 1  # member-1 thrice, member-2 at least once
    assert counts[CUSTOM_TYPE] >= 1
    assert [item.unusable for item in history].count(True) == 1
    assert set(counts) == {J, L, P, S, C, B, CUSTOM_TYPE}
    assert len({event_identity(item.event) for item in history}) == len(history)


@pytest.mark.parametrize(
    ("now", "tz"),
    [
        (NOW, "UTC"),
        (datetime(2025, 3, 12, 0, 0, 30, tzinfo=UTC), "UTC"),  # today is 30 s old
        (datetime(2025, 3, 12, 23, 59, 59, tzinfo=UTC), "UTC"),
        (datetime(2025, 3, 12, 10, 0, tzinfo=UTC), "Pacific/Kiritimati"),  # UTC+14
        (datetime(2025, 3, 9, 9, 30, tzinfo=UTC), "America/Los_Angeles"),  # DST starts that day
    ],
)
def test_streaks_reach_today_in_the_streak_calendar(now: datetime, tz: str) -> None:
    history = _history(now=now, tz=tz)
    days = _completion_days(history, tz)
    today = now.astimezone(ZoneInfo(tz)).date()
    yesterday = today - timedelta(days=1)

    assert {today, yesterday} <= days["member-1"]  # active, and a streak of 2 or more
    assert yesterday in days["member-2"]
    assert today not in days["member-2"]
    assert max(days["member-3"]) <= today - timedelta(days=3)  # broken
    assert min(days["member-1"]) >= today - timedelta(days=41)


@pytest.mark.parametrize("now", [NOW, datetime(2025, 3, 12, 0, 0, 1, tzinfo=UTC)])
def test_no_event_after_now_or_before_the_window(now: datetime) -> None:
    history = _history(now=now, days=30)
    times = [_time(item) for item in history]

    assert max(times) <= now
    assert min(times) >= datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=29)
    assert times == sorted(times)


def test_ids_and_realms_as_promised() -> None:
    history = _history(members=12)
    usable = [item.event for item in history if not item.unusable]
    (unusable,) = [item.event for item in history if item.unusable]

    assert {realm_id_of(event) for event in [*usable, unusable]} == {"demo-realm"}
    assert {member_id_of(event) for event in usable} == set(member_ids(12))
    assert member_id_of(unusable) is None
    assert unusable["type"] == P
    assert topic_for("drip", CUSTOM_TYPE) == "drip.other"


def test_member_1_completes_quests_buys_and_earns() -> None:
    history = _history()
    mine = [item.event for item in history if member_id_of(item.event) == "member-1"]
    kinds = Counter(event["type"] for event in mine)
    purchased = [datetime.fromisoformat(e["data"]["purchase"]["completedAt"]) for e in mine
                 if e["type"] == B]  # fmt: skip
    items = {item.event["data"]["purchase"]["item"]["name"] for item in history if item.type == B}

    assert kinds[C] >= 2 and kinds[P] >= kinds[C] and kinds[CUSTOM_TYPE] == 1
    assert NOW.date() in {at.date() for at in purchased}
    assert min(purchased).date() < NOW.date()
    assert len(items) >= 2


@pytest.mark.parametrize("members", [4, 25])
def test_balances_grow_with_event_time_per_member(members: int) -> None:
    balances: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for item in _history(members=members):
        if item.type == P and not item.unusable:
            data = item.event["data"]
            assert data["points"]["realmPoint"]["name"] == "XP"
            balances[data["member"]["id"]].append((_time(item), data["newBalance"]))

    assert set(balances) == set(member_ids(members))
    for series in balances.values():
        times = [at for at, _ in series]
        assert times == sorted(set(times))
        amounts = [balance for _, balance in series]
        assert amounts == sorted(set(amounts))


def test_same_seed_same_history_and_member_1_whatever_the_count() -> None:
    first = _history(seed=5)
    assert first == _history(seed=5)
    assert first != _history(seed=6)

    def member_1(history: list[DemoEvent]) -> list[DemoEvent]:
        return [item for item in history if member_id_of(item.event) == "member-1"]

    assert member_1(_history(members=4, seed=5)) == member_1(first)


@pytest.mark.parametrize(
    ("members", "days", "now"),
    [
        (3, 42, NOW),
        (5001, 42, NOW),
        (25, 6, NOW),
        (25, 367, NOW),
        (25, 42, NOW.replace(tzinfo=None)),
    ],
)
def test_out_of_range_arguments_are_refused(members: int, days: int, now: datetime) -> None:
    with pytest.raises(ValueError):
        demo_history(members=members, days=days, seed=1, now=now)


# `drip-bridge demo` through the CLI.

Run = Callable[..., Result]


@pytest.fixture
def receiver() -> Iterator[ReceiverStandin]:
    with ReceiverStandin(TEST_SECRET) as standin:
        yield standin


@pytest.fixture
def run(tmp_path, monkeypatch) -> Run:
    monkeypatch.chdir(tmp_path)  # a developer's .env must not leak into these runs

    def invoke(*args: str, secret: str = TEST_SECRET) -> Result:
        env = {"DRIP_WEBHOOK_SECRETS": f"{secret},an-older-secret", "DRIP_STREAK_TIMEZONE": "UTC"}
        result = CliRunner().invoke(app, ["demo", "--members", "4", "--days", "7", *args], env=env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


def test_demo_sends_the_whole_history_signed(run: Run, receiver: ReceiverStandin) -> None:
    receiver.fail_next(Fault(503, {"Retry-After": "0"}))  # taken once more, then accepted
    result = run("--url", receiver.url, "--realm", "r-7", "--seed", "9")

    assert result.exit_code == 0, result.output
    sent = [json.loads(seen.body) for seen in receiver.seen]
    expected = [
        item.event
        for item in demo_history(realm="r-7", members=4, days=7, seed=9, now=datetime.now(UTC))
    ]
    assert len(sent) == len(expected) + 1
    distinct = {event_identity(event): event for event in sent}.values()
    assert Counter(e["type"] for e in distinct) == Counter(e["type"] for e in expected)
    summary = f"realm r-7: sent {len(expected)} event(s) to {receiver.url}: "
    assert summary + f"{len(expected)} accepted, 0 refused" in result.stdout


def test_refusals_fail_the_run_and_say_why(run: Run, receiver: ReceiverStandin) -> None:
    result = run("--url", receiver.url, secret="not-the-receivers-secret")

    assert result.exit_code == ExitCode.HTTP_ERROR
    assert "0 accepted" in result.stdout
    assert "with HTTP 401" in result.stderr
    assert "DRIP_WEBHOOK_SECRETS lacks the first secret" in result.stderr


@pytest.mark.parametrize(("answers_503", "status"), [(MAX_ATTEMPTS - 1, 200), (MAX_ATTEMPTS, 503)])
async def test_a_503_is_posted_again_up_to_the_attempts(
    receiver: ReceiverStandin, answers_503: int, status: int
) -> None:
    receiver.fail_next(*[Fault(503, {"Retry-After": "0"})] * answers_503)
    item = _history(members=4, days=7)[0]

    tally = await send_history([item], receiver.url, TEST_SECRET.encode(), timeout_s=5)

    assert len(receiver.seen) == min(answers_503 + 1, MAX_ATTEMPTS)
    assert [o.status for o in tally.refused] == ([] if status == 200 else [503])
    assert tally.accepted == (status == 200)


def test_no_receiver_is_unreachable(run: Run) -> None:
    url = f"http://127.0.0.1:{free_port()}/webhooks/drip"
    result = run("--url", url)

    assert result.exit_code == ExitCode.UNREACHABLE
    assert f"no answer from the receiver at {url}" in result.stderr


async def test_the_unusable_event_refused_does_not_count_as_a_failure(
    receiver: ReceiverStandin,
) -> None:
    history = _history(members=4, days=7)
    unusable = [item for item in history if item.unusable]
    usable = history[:2]

    tally = await send_history(unusable + usable, receiver.url, b"wrong-secret", timeout_s=5)

    assert (tally.sent, tally.accepted, tally.unusable_refused) == (3, 0, 1)
    assert [outcome.status for outcome in tally.refused] == [401, 401]


def test_help_states_the_limits() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.stdout.split())

    assert f"At most {MAX_IN_FLIGHT} requests are in flight" in text
    assert f"{MAX_ATTEMPTS} posts in all" in text


def test_the_readme_introduces_the_demo_before_its_queries() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Query it with SQL") :]

    assert section.index("`drip-bridge demo`") < section.index("```sql")
