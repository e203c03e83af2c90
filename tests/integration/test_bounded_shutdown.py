"""A consumer stops within DRIP_SHUTDOWN_TIMEOUT_S of SIGTERM even when its broker is frozen.

The broker is a private one started for this test (another port, its own directory, the
installed jars), frozen with SIGSTOP: the shared broker is never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from devstack.kafka import LocalKafka
from tests.factories import TEST_SECRET
from tests.ports import free_port_pair

pytestmark = pytest.mark.integration

SHUTDOWN_TIMEOUT_S = 3.0
# Interpreter start-up is not in the bound, but exit is: closing the loop, the threads.
EXIT_MARGIN_S = 3.0


@pytest.fixture
def private_kafka(kafka_settings: Settings, tmp_path: Path) -> Iterator[LocalKafka]:
    port = free_port_pair()
    settings = kafka_settings.model_copy(
        update={
            "local_dir": tmp_path / "local",
            "kafka_bootstrap_servers": f"127.0.0.1:{port}",
            "kafka_heap": "256m",
        }
    )
    shared_jars = LocalKafka(kafka_settings).lib
    broker = LocalKafka(settings, lib=shared_jars if shared_jars.exists() else None)
    broker.start()
    try:
        yield broker
    finally:
        pid = broker.daemon.pid()
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        broker.stop()


def _wait_for_line(log: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in the consumer's log:\n{log.read_text()[-3000:]}")


def test_sigterm_with_the_broker_frozen(
    private_kafka: LocalKafka, db_settings: Settings, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DRIP_")},
        "DRIP_WEBHOOK_SECRETS": TEST_SECRET,
        "DRIP_KAFKA_BOOTSTRAP_SERVERS": private_kafka.settings.kafka_bootstrap_servers,
        "DRIP_DATABASE_URL": db_settings.database_url,
        "DRIP_TOPIC_PREFIX": "bounded",
        "DRIP_TOPIC_PARTITIONS": "2",
        "DRIP_SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S),
    }
    log = tmp_path / "consume.log"
    with log.open("w") as out:
        consume = subprocess.Popen(
            [sys.executable, "-m", "dripbridge", "consume", "purchases"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_line(log, "group purchases: reading", 90)  # a member, partitions assigned
        broker = private_kafka.daemon.pid()
        assert broker is not None
        os.kill(broker, signal.SIGSTOP)
        time.sleep(1)
        started = time.monotonic()
        consume.send_signal(signal.SIGTERM)
        code = consume.wait(timeout=60)
        took = time.monotonic() - started
        os.kill(broker, signal.SIGCONT)
    finally:
        if consume.poll() is None:
            consume.kill()
            consume.wait()
    text = log.read_text()
    assert took < SHUTDOWN_TIMEOUT_S + EXIT_MARGIN_S, f"{took:.1f} s\n{text[-3000:]}"
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
