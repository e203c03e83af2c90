"""`drip-bridge trace EVENT_ID` on real Kafka and PostgreSQL: the groups run through the real
runtime, then one event is followed to its place, its applied state and its rows."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from consumers import registry
from consumers.groups.archive import GROUP as ARCHIVE
from consumers.groups.leaderboard import GROUP as LEADERBOARD
from consumers.groups.purchases import GROUP as PURCHASES
from consumers.ops.trace import EventNotFound, EventTrace, trace_event
from core.settings import Settings
from tests.factories import make_event
from tests.group_runs import run_until_stored
from tests.process_env import process_env
from tests.records import produce

pytestmark = pytest.mark.integration

DRIP_BRIDGE = str(Path(sys.executable).with_name("drip-bridge"))


def _events(tag: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """An award, a purchase and a purchase the group cannot use, in a realm of this test."""
    realm = f"realm-{tag}"
    award = make_event("member.points.awarded", id=f"award-{tag}", realmId=realm)
    purchase = make_event("store.purchase.completed", id=f"purchase-{tag}", realmId=realm)
    purchase["data"]["purchase"]["id"] = f"p-{tag}"
    unusable = make_event("store.purchase.completed", id=f"unusable-{tag}", realmId=realm)
    unusable["data"] = None
    return award, purchase, unusable


async def _trace(run: Settings, event_id: str) -> EventTrace:
    return await trace_event(run, registry.all_groups(), event_id)


def _drip(run: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``drip-bridge ARGS`` as an operator runs it, on a console wide enough for a row."""
    return subprocess.run(
        [DRIP_BRIDGE, *args],
        env=process_env(run, COLUMNS="250"),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _group(trace: EventTrace, name: str) -> Any:
    return {g.name: g for g in trace.groups}[name]


async def test_trace_follows_an_event_through_the_groups(
    settings: Settings, db_settings: Settings, tmp_path: Path
) -> None:
    run = settings.model_copy(
        update={"database_url": db_settings.database_url, "batch_max_wait_ms": 50}
    )
    tag = uuid.uuid4().hex[:10]
    award, purchase, unusable = _events(tag)
    await produce(run, [award, purchase, unusable])

    await run_until_stored(PURCHASES, run, 2)
    # The archive has not run: the dead letter gives the unusable event's place.
    early = await _trace(run, unusable["id"])
    assert early.place.found_in == "dead_letters" and early.note and "archive" in early.note
    assert early.place.topic == f"{run.topic_prefix}.store.purchase.completed"
    assert [(g.name, g.state) for g in early.groups] == [
        ("purchases", "dead letter"),
        ("archive", "not yet applied"),
    ]
    with pytest.raises(EventNotFound, match="archive"):
        await _trace(run, award["id"])  # neither archived nor a dead letter yet

    await run_until_stored(ARCHIVE, run, 3)
    waiting = await _trace(run, award["id"])
    assert waiting.place.found_in == "events"
    assert [(g.name, g.state) for g in waiting.groups] == [
        ("leaderboard", "not yet applied"),
        ("archive", "applied"),
    ]
    assert _group(waiting, "leaderboard").next_offset is None
    assert _group(waiting, "leaderboard").rows["point_awards"] == []

    await run_until_stored(LEADERBOARD, run, 1)
    done = await _trace(run, award["id"])
    assert done.place.topic == f"{run.topic_prefix}.member.points.awarded"
    board = _group(done, "leaderboard")
    assert (board.state, board.next_offset) == ("applied", done.place.offset + 1)
    (awarded,) = board.rows["point_awards"]
    assert (awarded["event_id"], awarded["amount"]) == (award["id"], 100)
    (balance,) = board.rows["member_balances"]
    assert balance["balance"] == award["data"]["newBalance"]
    assert balance["member_id"] == award["data"]["member"]["id"]
    (member,) = board.rows["members"]
    assert member["realm_id"] == award["realmId"]
    (archived,) = _group(done, "archive").rows["events"]
    assert (archived["topic"], archived["partition"], archived["offset"]) == (
        done.place.topic,
        done.place.partition,
        done.place.offset,
    )
    assert done.dead_letters == ()

    # The purchase, through the command line as an operator runs it.
    shown = _drip(run, tmp_path, "trace", purchase["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["topic"] == f"{run.topic_prefix}.store.purchase.completed"
    groups = {g["name"]: g for g in document["groups"]}
    assert set(groups) == {"purchases", "archive"}
    assert groups["purchases"]["state"] == "applied"
    rows = groups["purchases"]["rows"]
    assert [r["purchase_id"] for r in rows["purchases"]] == [f"p-{tag}"]
    cost = purchase["data"]["purchase"]["item"]["cost"]
    assert [(r["purchases"], r["points_spent"]) for r in rows["item_sales_daily"]] == [(1, cost)]
    assert [(r["purchases"], r["points_spent"]) for r in rows["member_spend"]] == [(1, cost)]

    table = _drip(run, tmp_path, "trace", unusable["id"])
    assert table.returncode == 0, table.stderr
    assert "dead letter" in table.stdout and "Dead letters" in table.stdout
    assert "data is missing" in table.stdout


def test_unknown_event_is_one_line_and_a_failure(db_settings: Settings, tmp_path: Path) -> None:
    done = _drip(db_settings, tmp_path, "trace", "no-such-event-id")
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: no event 'no-such-event-id' in the archive (events)")
