"""The leaderboard's pure half: events to rows, and a batch folded by last-writer-wins."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from consumers.groups.leaderboard import GROUP
from consumers.groups.leaderboard.fold import MemberPatch, PointName, fold
from consumers.groups.leaderboard.rows import Award, Joined, LeaderboardRow, Left, rows_from
from core.errors import UnusableEvent
from core.settings import Settings
from tests.factories import GUIDE_SAMPLES, GUIDE_TEST_POINTS
from tests.group_events import DELETE, field_case, group_event, with_field

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
REALM = "507f1f77bcf86cd799439011"
MEMBER = "507f1f77bcf86cd799439013"


def at(minute: int, hour: int = 15) -> datetime:
    return datetime(2024, 1, 20, hour, minute, tzinfo=UTC)


def test_group_reads_member_topics() -> None:
    assert (GROUP.name, GROUP.group_id(SETTINGS)) == ("leaderboard", "drip-leaderboard")
    assert GROUP.topics("drip") == [
        "drip.member.joined",
        "drip.member.left",
        "drip.member.points.awarded",
    ]
    assert GROUP.tables[-1] == "leaderboard"


GUIDE_AWARD = Award(
    event_id="evt-1",
    realm_id=REALM,
    member_id=MEMBER,
    username="member123",
    realm_point_id="507f1f77bcf86cd799439015",
    point_name="XP",
    amount=100,
    reason="Completed daily quest",
    new_balance=1250,
    event_at=at(45),
)
JOINED = GUIDE_SAMPLES["member.joined"]
LEFT = GUIDE_SAMPLES["member.left"]
POINTS = GUIDE_SAMPLES["member.points.awarded"]


@pytest.mark.parametrize(
    ("payload", "row"),
    [
        pytest.param(
            JOINED, Joined(REALM, MEMBER, "newmember123", "New Member", at(30), at(30)), id="joined"
        ),
        pytest.param(LEFT, Left(REALM, MEMBER, at(0, 16), at(0, 16)), id="left"),
        pytest.param(POINTS, GUIDE_AWARD, id="points"),
        pytest.param(
            GUIDE_TEST_POINTS,
            replace(
                GUIDE_AWARD,
                realm_id="test-realm",
                member_id="test-member",
                username="testuser",
                realm_point_id="XP",
                reason="Test webhook",
                new_balance=1000,
                event_at=at(30),
            ),
            id="points-without-realm-point-id",
        ),
        pytest.param(
            with_field(JOINED, "data.member.joinedAt", DELETE),
            Joined(REALM, MEMBER, "newmember123", "New Member", at(30), at(30)),
            id="joined-at-defaults-to-timestamp",
        ),
        pytest.param(
            with_field(LEFT, "data.leftAt", "2024-01-20T15:59:00+00:00"),
            Left(REALM, MEMBER, at(59), at(0, 16)),
            id="left-at-kept-apart-from-event-time",
        ),
        pytest.param(
            with_field(LEFT, "data", {"member": {"id": MEMBER}}),
            Left(REALM, MEMBER, at(0, 16), at(0, 16)),
            id="left-with-member-object",
        ),
        pytest.param(
            with_field(POINTS, "data.newBalance", 12.0),
            replace(GUIDE_AWARD, new_balance=12),
            id="whole-float-balance",
        ),
        pytest.param(
            with_field(POINTS, "data.points.amount", -30),
            replace(GUIDE_AWARD, amount=-30),
            id="negative-amount",
        ),
        pytest.param(
            with_field(POINTS, "data.reason", DELETE),
            replace(GUIDE_AWARD, reason=None),
            id="no-reason",
        ),
    ],
)
def test_maps(payload: dict[str, Any], row: LeaderboardRow) -> None:
    assert rows_from(group_event(payload, event_id="evt-1"), SETTINGS) == row


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        field_case(POINTS, "data.newBalance", DELETE, "data.newBalance is missing"),
        field_case(POINTS, "data.newBalance", "1250", "data.newBalance must be a number"),
        field_case(POINTS, "data.newBalance", 12.5, "data.newBalance must be a whole number"),
        field_case(POINTS, "data.newBalance", True, "data.newBalance must be a number"),
        field_case(POINTS, "data.newBalance", 2**63, "data.newBalance is out of range"),
        field_case(POINTS, "data.points.amount", None, "data.points.amount is missing"),
        field_case(
            POINTS,
            "data.points.realmPoint",
            {"emoji": "*"},
            "data.points.realmPoint has neither an id nor a name",
        ),
        field_case(POINTS, "data.points", "100", "data.points must be an object"),
        field_case(POINTS, "data.member.id", DELETE, "data.member.id is missing"),
        field_case(POINTS, "data.member.id", ["x"], "data.member.id must be a string"),
        field_case(POINTS, "data.member.username", 7.5, "data.member.username must be a string"),
        field_case(POINTS, "realmId", DELETE, "realmId is missing"),
        field_case(POINTS, "timestamp", DELETE, "timestamp is missing"),
        field_case(POINTS, "timestamp", "yesterday", "timestamp is not an ISO 8601"),
        field_case(POINTS, "data", DELETE, "data is missing or not an object"),
        field_case(JOINED, "data.member", DELETE, "data.member.id is missing"),
        field_case(JOINED, "data.member.joinedAt", 5, "data.member.joinedAt must be an ISO"),
        field_case(LEFT, "data.memberId", DELETE, "data.memberId is missing"),
        field_case(LEFT, "data.leftAt", "soon", "data.leftAt is not an ISO 8601"),
        field_case(
            POINTS,
            "type",
            "quest.completed",
            "the leaderboard does not read events of type 'quest.completed'",
        ),
    ],
)
def test_unusable_events_say_which_field(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(UnusableEvent, match="^" + message.replace("(", r"\(")):
        rows_from(group_event(payload, event_id="evt-1"), SETTINGS)


def award(event_id: str, minute: int, balance: int, **changes: Any) -> Award:
    base = Award(event_id, "r", "m", "user", "xp", "XP", 1, None, balance, at(minute))
    return replace(base, **changes)


def join(minute: int, display: str = "Shown", username: str = "user") -> Joined:
    return Joined("r", "m", username, display, at(minute), at(minute))


def leave(minute: int) -> Left:
    return Left("r", "m", at(minute), at(minute))


@pytest.mark.parametrize(
    ("rows", "balance_event"),
    [
        pytest.param([award("a", 1, 10), award("b", 2, 20)], "b", id="in-order"),
        pytest.param([award("b", 2, 20), award("a", 1, 10)], "b", id="older-arrives-later"),
        pytest.param([award("a", 2, 10), award("b", 2, 20)], "b", id="tie-greater-id"),
        pytest.param([award("b", 2, 20), award("a", 2, 10)], "b", id="tie-either-order"),
        pytest.param([award("a", 1, 10), award("a", 1, 10)], "a", id="duplicate"),
    ],
)
def test_balance_is_the_latest_award(rows: list[LeaderboardRow], balance_event: str) -> None:
    folded = fold(rows)
    assert [b.event_id for b in folded.balances] == [balance_event]
    assert len(folded.awards) == len({r.event_id for r in rows if isinstance(r, Award)})


@pytest.mark.parametrize(
    ("rows", "patch"),
    [
        pytest.param(
            [award("a", 5, 1)],
            MemberPatch("r", "m", "user", at(5), last_event_at=at(5)),
            id="first-seen-in-points",
        ),
        pytest.param(
            [leave(9), join(3, "Old"), join(7, "New")],
            MemberPatch("r", "m", "user", at(7), "New", at(7), at(7), at(9), at(9), at(9)),
            id="latest-join-and-leave",
        ),
        pytest.param(
            [join(3, "First"), join(3, "Second")],
            MemberPatch("r", "m", "user", at(3), "First", at(3), at(3), None, None, at(3)),
            id="join-tie-keeps-the-earlier-record",
        ),
        pytest.param(
            [award("b", 8, 1, username="renamed"), join(2, username="original")],
            MemberPatch("r", "m", "renamed", at(8), "Shown", at(2), at(2), None, None, at(8)),
            id="username-from-the-latest-event",
        ),
        pytest.param(
            [award("b", 4, 1, username="zed"), award("c", 4, 1, username="amy")],
            MemberPatch("r", "m", "zed", at(4), last_event_at=at(4)),
            id="username-tie-greatest-name",
        ),
        pytest.param(
            [award("b", 4, 1, username=None)],
            MemberPatch("r", "m", None, None, last_event_at=at(4)),
            id="award-without-username",
        ),
    ],
)
def test_member_patch(rows: list[LeaderboardRow], patch: MemberPatch) -> None:
    assert fold(rows).members == [patch]


@pytest.mark.parametrize(
    ("rows", "name"),
    [
        pytest.param([award("a", 1, 1), award("b", 2, 1, point_name="Exp")], "Exp", id="rename"),
        pytest.param([award("b", 2, 1, point_name="Exp"), award("a", 1, 1)], "Exp", id="late"),
        pytest.param([award("a", 3, 1, point_name=None), award("b", 1, 1)], "XP", id="nameless"),
        pytest.param([award("a", 1, 1, point_name="B"), award("b", 1, 1, point_name="A")], "B"),
    ],
)
def test_realm_point_name(rows: list[LeaderboardRow], name: str) -> None:
    [point] = fold(rows).points
    assert isinstance(point, PointName) and point.point_name == name


def test_fold_sorts_keys_for_a_stable_lock_order() -> None:
    rows: list[LeaderboardRow] = [
        award("1", 1, 5, member_id="m2"),
        award("2", 1, 5, member_id="m1", realm_point_id="gems"),
        award("3", 1, 5, member_id="m1"),
        award("4", 1, 5, realm_id="a", member_id="m9"),
    ]
    folded = fold(rows)
    assert [(p.realm_id, p.member_id) for p in folded.members] == [
        ("a", "m9"),
        ("r", "m1"),
        ("r", "m2"),
    ]
    assert [(b.member_id, b.realm_point_id) for b in folded.balances] == [
        ("m9", "xp"),
        ("m1", "gems"),
        ("m1", "xp"),
        ("m2", "xp"),
    ]
