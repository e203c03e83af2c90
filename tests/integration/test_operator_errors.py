"""Settings that are wrong end a command with one line and exit 78, never a traceback.

Each command runs as the operator runs it (a subprocess) against the real local PostgreSQL and
Kafka, with one setting spoiled: a refused password, a port nothing listens on, a URL scheme
that is not PostgreSQL's, an unknown time zone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from core.exit_codes import ExitCode
from core.settings import Settings
from core.topics import ensure_topics
from tests.factories import TEST_SECRET
from tests.ports import free_port
from tests.waiting import wait

pytestmark = pytest.mark.integration

DRIP = [sys.executable, "-m", "dripbridge"]


def _with_netloc(url: str, *, password: str | None = None, port: int | None = None) -> str:
    parts = urlsplit(url)
    user = parts.username or "drip"
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password or parts.password}@{host}:{port or parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def env(settings: Settings, db_settings: Settings) -> dict[str, str]:
    """The environment of a working setup (this test's topics, the session's database)."""
    asyncio.run(ensure_topics(settings))
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DRIP_")},
        "DRIP_WEBHOOK_SECRETS": TEST_SECRET,
        "DRIP_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DRIP_DATABASE_URL": db_settings.database_url,
        "DRIP_TOPIC_PREFIX": settings.topic_prefix,
        "DRIP_HTTP_PORT": str(free_port()),
        "DRIP_SHUTDOWN_TIMEOUT_S": "5",
    }


def _spoiled(env: dict[str, str], spoil: str) -> dict[str, str]:
    url = env["DRIP_DATABASE_URL"]
    changes = {
        "password": {"DRIP_DATABASE_URL": _with_netloc(url, password="not-the-password")},
        "database port": {"DRIP_DATABASE_URL": _with_netloc(url, port=free_port())},
        "scheme": {"DRIP_DATABASE_URL": "mysql://drip:drip@127.0.0.1:3306/drip"},
        "time zone": {"DRIP_STREAK_TIMEZONE": "Mars/Olympus"},
        # With its spool, a receiver starts while Kafka is away (test_spool_crash); without, not.
        "kafka port, no spool": {
            "DRIP_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "DRIP_SPOOL_ENABLED": "false",
        },
    }[spoil]
    return {**env, **changes}


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DRIP, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "spoil", "code", "says"),
    [
        (["migrate"], "password", ExitCode.CONFIG, "password authentication failed"),
        (["migrate"], "scheme", ExitCode.CONFIG, "DRIP_DATABASE_URL: unsupported URL scheme"),
        (["migrate"], "database port", ExitCode.FAILED, "PostgreSQL did not answer"),
        (["consumers"], "password", ExitCode.CONFIG, "password authentication failed"),
        (["consumers"], "database port", ExitCode.FAILED, "PostgreSQL did not answer"),
        (["replay", "purchases", "--since", "2024-01-01"], "password", ExitCode.CONFIG, "password"),
        (["consume", "purchases"], "password", ExitCode.CONFIG, "password authentication failed"),
        (["consume", "streaks"], "time zone", ExitCode.CONFIG, "DRIP_STREAK_TIMEZONE: unknown"),
        (["serve"], "scheme", ExitCode.CONFIG, "DRIP_DATABASE_URL"),
        (["serve"], "kafka port, no spool", 3, "start-up failed: cannot create topics on Kafka"),
        (["stack"], "time zone", ExitCode.CONFIG, "DRIP_STREAK_TIMEZONE"),
    ],
)
def test_one_line_and_an_exit_code(
    env: dict[str, str], tmp_path: Path, args: list[str], spoil: str, code: int, says: str
) -> None:
    done = _run(args, _spoiled(env, spoil), tmp_path)
    assert done.returncode == code, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert says in done.stderr
    if code == ExitCode.CONFIG:
        assert "DRIP_" in done.stderr  # the setting to fix is named


def test_stack_keeps_the_receiver_when_groups_are_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    spoiled = _spoiled(env, "password")
    stack = subprocess.Popen(
        [*DRIP, "stack", "leaderboard", "purchases"],
        env=spoiled,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{spoiled['DRIP_HTTP_PORT']}/readyz"
        wait(lambda: httpx.get(url).status_code == 200, 60, "the receiver")
        time.sleep(3)  # the groups meet the refused password, and are not restarted
        assert stack.poll() is None
        assert httpx.get(url).status_code == 200
    finally:
        stack.send_signal(signal.SIGTERM)
        _, stderr = stack.communicate(timeout=60)
    assert stack.returncode == ExitCode.CONFIG, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    for group in ("leaderboard", "purchases"):
        assert f"consumer-{group} exited (78): a setting to fix" in stderr
    assert stderr.count("password authentication failed") >= 2
    assert "restart #" not in stderr


def test_consume_waits_for_postgresql_quietly(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "consume.log"
    with log.open("w") as out:
        consume = subprocess.Popen(
            [*DRIP, "consume", "purchases"],
            env=_spoiled(env, "database port"),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        wait(lambda: "Kafka or PostgreSQL is away" in log.read_text(), 90, "the away line")
        assert "Connection refused" in log.read_text()
        assert consume.poll() is None  # waiting, not exiting
        started = time.monotonic()
        consume.send_signal(signal.SIGTERM)
        consume.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if consume.poll() is None:
            consume.kill()
            consume.wait()
    stderr = log.read_text()
    assert took < 5 + 2, stderr[-3000:]
    assert consume.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert len(stderr.splitlines()) < 20, stderr[-3000:]
