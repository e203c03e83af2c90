"""The poison corpus posted, signed, to a running `drip-bridge stack`: each event is refused at
the edge or accepted, and then stored or dead-lettered by each group, while the events posted
after it reach the tables, the receiver keeps answering and no process of the stack exits."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from core.settings import Settings
from tests.factories import TEST_SECRET, make_event, pretty_body, sign
from tests.poison import corpus
from tests.ports import free_port
from tests.waiting import wait

pytestmark = pytest.mark.integration

# Refused at the edge with 400 (documented limits: type and identifiers at most 200 characters).
_REFUSED_AT_EDGE = {"long-member-id", "long-realm-id", "long-custom-type"}
_STORED = {
    "leaderboard": "SELECT event_id FROM point_awards WHERE event_id = ANY(%s)",
    "streaks": "SELECT event_id FROM quest_completions WHERE event_id = ANY(%s)",
    "purchases": "SELECT event_id FROM purchases WHERE event_id = ANY(%s)",
    "archive": "SELECT event_id FROM events WHERE event_id = ANY(%s)",
}


def _good(tag: str, n: int) -> list[tuple[str, str, bytes]]:
    """(event id, type, body) of one good event of each type a group reads, after poison ``n``."""
    events = []
    for event_type in _TYPES.values():
        event = make_event(event_type, id=f"{tag}-good-{event_type}-{n}")
        if event_type == "store.purchase.completed":
            event["data"]["purchase"]["id"] = event["id"]
        events.append((str(event["id"]), event_type, pretty_body(event)))
    return events


def _all_applied(applied: Callable[[str, list[str]], set[str]], group: str, ids: list[str]) -> bool:
    return applied(group, ids) == set(ids)


def _reads(group: str, event_type: str) -> bool:
    return group == "archive" or _TYPES[group] == event_type


def test_poison_through_the_receiver_and_stack(
    settings: Settings, db_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DRIP_WEBHOOK_SECRETS": TEST_SECRET,
        "DRIP_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DRIP_DATABASE_URL": db_settings.database_url,
        "DRIP_TOPIC_PREFIX": settings.topic_prefix,
        "DRIP_GROUP_ID_PREFIX": settings.group_id_prefix,
        "DRIP_TOPIC_PARTITIONS": "1",
        "DRIP_HTTP_PORT": str(port),
        "DRIP_BATCH_MAX_WAIT_MS": "50",
        "DRIP_SPOOL_DIR": str(tmp_path / "spool"),
    }
    log = tmp_path / "stack.log"
    with log.open("wb") as out:
        stack = subprocess.Popen(
            [sys.executable, "-m", "dripbridge", "stack"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    tag = settings.topic_prefix
    poisons = corpus(tag)
    good: list[tuple[str, str, bytes]] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait(lambda: httpx.get(f"{url}/readyz").status_code == 200, 90, "the receiver")
        with httpx.Client(base_url=url, timeout=30) as client:
            for n, poison in enumerate(poisons):
                answer = client.post(
                    "/webhooks/drip",
                    content=poison.body,
                    headers={"X-Drip-Signature": sign(poison.body)},
                )
                case = poison.event_id.removeprefix(f"{tag}-poison-")
                expected = 400 if case in _REFUSED_AT_EDGE else 200
                assert answer.status_code == expected, (case, answer.text)
                for event in _good(tag, n):
                    posted = client.post(
                        "/webhooks/drip",
                        content=event[2],
                        headers={"X-Drip-Signature": sign(event[2])},
                    )
                    assert posted.status_code == 200, posted.text
                    good.append(event)

        accepted = [p for p in poisons if p.event_id.split("-poison-")[1] not in _REFUSED_AT_EDGE]

        def applied(group: str, ids: list[str]) -> set[str]:
            with psycopg.connect(db_settings.libpq_url) as conn:
                return {row[0] for row in conn.execute(_STORED[group], [ids]).fetchall()}

        for group in _STORED:
            wanted = [event_id for event_id, event_type, _ in good if _reads(group, event_type)]
            wait(
                functools.partial(_all_applied, applied, group, wanted), 90, f"{group}'s good ones"
            )

        with psycopg.connect(db_settings.libpq_url) as conn:
            for group in _STORED:
                read = [p for p in accepted if _reads(group, p.event_type)]
                dead = {
                    row[0]
                    for row in conn.execute(
                        "SELECT event_id FROM dead_letters WHERE group_id = %s",
                        [f"{settings.group_id_prefix}{group}"],
                    ).fetchall()
                }
                stored = applied(group, [p.event_id for p in read])
                for poison in read:
                    if group in poison.dead_in:
                        assert poison.event_id in dead, (group, poison.event_id)
                    else:
                        assert poison.event_id in stored, (group, poison.event_id)
        assert httpx.get(f"{url}/readyz").status_code == 200
        assert stack.poll() is None
        assert b"exited" not in log.read_bytes(), log.read_text()[-3000:]
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(60)


_TYPES = {
    "leaderboard": "member.points.awarded",
    "streaks": "quest.completed",
    "purchases": "store.purchase.completed",
}
