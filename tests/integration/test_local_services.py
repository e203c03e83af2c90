"""The no-Docker services start once, answer on the configured ports, and stop."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path

import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from core.settings import Settings
from devstack.kafka import LocalKafka, kafka_answers
from devstack.postgres import LocalPostgres, postgres_answers
from tests.ports import free_port, free_port_pair

pytestmark = pytest.mark.integration


def _processes(pattern: str) -> int:
    found = subprocess.run(
        ["pgrep", "-f", "--", pattern], capture_output=True, text=True, check=False
    )
    return len(found.stdout.split())


async def _coordinator(bootstrap_servers: str) -> int:
    """The broker coordinating a consumer group, asked once: no retries."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        return await admin.find_coordinator("drip-bridge-test-group")
    finally:
        await admin.close()


def test_kafka_starts_once_answers_and_stops(kafka_settings: Settings, tmp_path: Path) -> None:
    port = free_port_pair()
    settings = kafka_settings.model_copy(
        update={
            "local_dir": tmp_path,
            "kafka_bootstrap_servers": f"127.0.0.1:{port}",
            "kafka_heap": "256m",
        }
    )
    shared_jars = LocalKafka(kafka_settings).lib
    broker = LocalKafka(settings, lib=shared_jars if shared_jars.exists() else None)
    try:
        broker.start()
        # Consumer groups work as soon as start returns: a freshly formatted broker creates
        # __consumer_offsets only when first asked, and groups started before that log errors.
        assert asyncio.run(_coordinator(settings.kafka_bootstrap_servers)) == 1
        first_pid = broker.daemon.pid()
        broker.start()  # idempotent: finds the running broker
        assert broker.daemon.pid() == first_pid
        assert _processes(str(tmp_path / "kafka" / "server.properties")) == 1
        assert kafka_answers(settings.kafka_bootstrap_servers)
        config = (tmp_path / "kafka" / "server.properties").read_text()
        assert f"PLAINTEXT://127.0.0.1:{port}" in config
        assert f"CONTROLLER://127.0.0.1:{port + 1}" in config
    finally:
        assert broker.stop()
    assert not kafka_answers(settings.kafka_bootstrap_servers, timeout_s=2)
    assert not broker.stop()  # stopping twice is harmless


def test_kafka_probe_leaves_aiokafka_logging_as_it_was() -> None:
    aiokafka_log = logging.getLogger("aiokafka")
    before = aiokafka_log.level
    aiokafka_log.setLevel(logging.INFO)
    try:
        assert not kafka_answers(f"127.0.0.1:{free_port()}", timeout_s=1)
        assert aiokafka_log.level == logging.INFO
    finally:
        aiokafka_log.setLevel(before)


def test_postgres_starts_once_answers_and_stops(db_settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql+psycopg://owner:s3cret-pw@127.0.0.1:{port}/analytics"
    settings = db_settings.model_copy(update={"local_dir": tmp_path, "database_url": url})
    cluster = LocalPostgres(settings)
    try:
        cluster.start()
        cluster.start()  # idempotent: the server already answers
        assert cluster.running()
        assert _processes(f"-p {port} ") == 1
        # The URL's role, password and database were created in the new cluster.
        assert postgres_answers(settings.libpq_url)
        with psycopg.connect(settings.libpq_url) as conn:
            # What DROP DATABASE ... WITH (FORCE) needs to end autovacuum workers.
            row = conn.execute("SELECT pg_has_role('pg_signal_backend', 'MEMBER')").fetchone()
            assert row == (True,)
    finally:
        assert cluster.stop()
    assert not postgres_answers(settings.libpq_url, timeout_s=2)
    assert not cluster.running()
