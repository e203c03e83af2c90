"""With DRIP_METRICS_PORT set, every consumer process serves /metrics on a port of its own."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumers.groups.leaderboard import GROUP
from core.settings import Settings
from tests.factories import TEST_SECRET
from tests.group_db import emptied
from tests.integration.test_runtime import wait_for
from tests.leaderboard_model import generate
from tests.ports import free_port, free_port_run
from tests.process_env import process_env
from tests.records import produce

pytestmark = pytest.mark.integration


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with emptied(db_settings, GROUP) as connection:
        yield connection


def _page(port: int) -> str:
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    answer.raise_for_status()
    return answer.text


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value of the /metrics page on 127.0.0.1:``port``."""
    page = _page(port)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
    }


def _of_group(port: int, group: str) -> dict[str, float]:
    """The samples of ``group`` on that port, by name (labels other than group summed)."""
    found: dict[str, float] = {}
    try:
        samples = _samples(port)
    except httpx.HTTPError:
        return found
    for (name, labels), value in samples.items():
        if ("group", group) in labels:
            found[name] = found.get(name, 0.0) + value
    return found


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dripbridge", *args],
            env=env,
            cwd=log.parent,
            stdout=out,
            stderr=out,
        )


def _stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    assert process.returncode == 0, log.read_text()[-3000:]
    assert "Address already in use" not in log.read_text()


async def test_consume_processes_each_serve_their_own_metrics(
    settings: Settings,
    db_settings: Settings,
    conn: psycopg.AsyncConnection[Any],
    tmp_path: Path,
) -> None:
    stream = generate(seed=5, members=30, awards_per_member=4)
    sent = await produce(settings, stream.delivered)
    base = free_port_run(2)
    env = process_env(
        settings.model_copy(update={"database_url": db_settings.database_url}),
        DRIP_METRICS_PORT=str(base),
        DRIP_HTTP_HOST="127.0.0.1",
        DRIP_BATCH_MAX_WAIT_MS="50",
    )
    log = tmp_path / "consume.log"
    parent = _start(["consume", "leaderboard", "--processes", "2"], env, log)
    try:

        async def both_count_the_stream() -> bool:
            assert parent.poll() is None, log.read_text()
            first, second = _of_group(base, "leaderboard"), _of_group(base + 1, "leaderboard")
            if not ("drip_consumer_lag_records" in first and "drip_consumer_lag_records" in second):
                return False
            counted = sum(
                m.get("drip_consumer_events_applied_total", 0)
                + m.get("drip_consumer_dead_letters_total", 0)
                for m in (first, second)
            )
            return counted == sent

        await wait_for(both_count_the_stream, 90, "both processes' /metrics to count the stream")
        for port in (base, base + 1):  # each process holds partitions: each has its own series
            assert _of_group(port, "leaderboard")["drip_consumer_lag_records"] == 0
        for port in (base, base + 1):  # bound where DRIP_HTTP_HOST says
            assert f"metrics on http://127.0.0.1:{port}/metrics" in log.read_text()
    finally:
        _stop(parent, log)


async def test_stack_gives_each_group_process_a_metrics_port(
    settings: Settings, db_settings: Settings, tmp_path: Path
) -> None:
    http_port = free_port()
    base = free_port_run(2)
    env = process_env(
        settings.model_copy(update={"database_url": db_settings.database_url}),
        DRIP_WEBHOOK_SECRETS=TEST_SECRET,
        DRIP_HTTP_PORT=str(http_port),
        DRIP_METRICS_PORT=str(base),
        DRIP_TOPIC_PARTITIONS="1",
    )
    log = tmp_path / "stack.log"
    stack = _start(["stack", "leaderboard", "purchases"], env, log)
    try:

        async def each_serves_its_group() -> bool:
            assert stack.poll() is None, log.read_text()
            lag = "drip_consumer_lag_records"
            return (
                _answers(http_port)
                and lag in _of_group(base, "leaderboard")
                and lag in _of_group(base + 1, "purchases")
            )

        await wait_for(each_serves_its_group, 90, "the receiver and the groups' metrics")
        assert _of_group(base, "purchases") == {}  # one group per process, one port each
        assert _of_group(base + 1, "leaderboard") == {}
        receiver = _page(http_port)
        assert "drip_webhook_" in receiver
        assert "drip_consumer_" not in receiver  # the receiver's page is its own
        banner = f"metrics: consumer-leaderboard :{base}, consumer-purchases :{base + 1}"
        assert banner in log.read_text()
    finally:
        _stop(stack, log)
