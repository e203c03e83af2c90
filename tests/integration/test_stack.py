"""`drip-bridge stack`, the README's main job without Docker: receiver and groups, end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from core.settings import Settings
from tests.factories import TEST_SECRET, make_event, pretty_body, sign
from tests.ports import free_port
from tests.waiting import wait

pytestmark = pytest.mark.integration


def test_stack_serves_applies_and_stops_cleanly(
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
    }
    stack = subprocess.Popen(
        [sys.executable, "-m", "dripbridge", "stack", "leaderboard", "purchases"],
        env=env,
        cwd=tmp_path,  # no .env of the checkout
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    children: list[int] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait(lambda: httpx.get(f"{url}/readyz").status_code == 200, 60, "the receiver")
        event = make_event(
            "member.points.awarded", realmId=f"realm-{settings.topic_prefix}", id="stack-evt-1"
        )
        body = pretty_body(event)
        answer = httpx.post(
            f"{url}/webhooks/drip", content=body, headers={"X-Drip-Signature": sign(body)}
        )
        assert answer.status_code == 200, answer.text
        refused = httpx.post(
            f"{url}/webhooks/drip", content=body, headers={"X-Drip-Signature": "sha256=" + "0" * 64}
        )
        assert refused.status_code == 401

        def balance() -> int | None:
            with psycopg.connect(db_settings.libpq_url) as conn:
                row = conn.execute(
                    "SELECT balance FROM leaderboard WHERE realm_id = %s", [event["realmId"]]
                ).fetchone()
            return row[0] if row else None

        wait(lambda: balance() == event["data"]["newBalance"], 60, "the leaderboard row")
        found = subprocess.run(
            ["pgrep", "-P", str(stack.pid)], capture_output=True, text=True, check=False
        )
        children = [int(pid) for pid in found.stdout.split()]
        assert len(children) == 3  # the receiver and one process per named group
    finally:
        stack.send_signal(signal.SIGINT)
        _, stderr = stack.communicate(timeout=60)
    assert stack.returncode == 0, stderr.decode()[-2000:]
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_stack_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DRIP_WEBHOOK_SECRETS"}
    done = subprocess.run(
        [sys.executable, "-m", "dripbridge", "stack"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert b"DRIP_WEBHOOK_SECRETS" in done.stderr


def _children(pid: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return {int(p) for p in found.stdout.split()}


def test_one_group_stops_and_starts_while_the_stack_runs(
    settings: Settings, db_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DRIP_WEBHOOK_SECRETS": TEST_SECRET,
        "DRIP_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DRIP_DATABASE_URL": db_settings.database_url,
        "DRIP_TOPIC_PREFIX": settings.topic_prefix,
        "DRIP_TOPIC_PARTITIONS": "1",
        "DRIP_HTTP_PORT": str(port),
    }
    drip = [sys.executable, "-m", "dripbridge"]
    stack = subprocess.Popen(
        [*drip, "stack", "purchases"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = f"http://127.0.0.1:{port}/readyz"
        wait(lambda: httpx.get(ready).status_code == 200, 60, "the receiver")
        wait(lambda: len(_children(stack.pid)) == 2, 30, "receiver and group")
        first = _children(stack.pid)
        asked = subprocess.run(
            [*drip, "stack", "stop", "purchases"], env=env, cwd=tmp_path, capture_output=True
        )
        assert asked.returncode == 0, asked.stderr
        wait(lambda: len(_children(stack.pid)) == 1, 30, "the group to stop")
        time.sleep(2)  # past the first restart delay: an operator's stop is not restarted
        left = _children(stack.pid)
        assert len(left) == 1 and left < first  # the receiver, untouched
        assert httpx.get(ready).status_code == 200
        asked = subprocess.run(
            [*drip, "stack", "start", "purchases"], env=env, cwd=tmp_path, capture_output=True
        )
        assert asked.returncode == 0, asked.stderr
        wait(lambda: len(_children(stack.pid)) == 2, 30, "the group to start again")
        assert left < _children(stack.pid)
    finally:
        stack.send_signal(signal.SIGINT)
        _, stderr = stack.communicate(timeout=60)
    assert stack.returncode == 0, stderr[-2000:]
    assert "consumer-purchases: stopping, on the operator's request" in stderr
    assert "consumer-purchases: started, on the operator's request" in stderr
    assert "restart #" not in stderr
    assert "Traceback" not in stderr


def test_stack_stop_without_a_stack_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dripbridge", "stack", "stop", "purchases"],
        env={**os.environ, "DRIP_WEBHOOK_SECRETS": TEST_SECRET},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no stack is running" in done.stderr
    assert "Traceback" not in done.stderr
