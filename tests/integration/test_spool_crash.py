"""`kill -9` of a receiver that holds spooled events loses none of them: the next receiver
started on the same spool directory drains them into Kafka once it is back.

The receiver runs as `drip-bridge serve` (a real process that can be killed) against a broker of
this test alone, which the test stops and starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bridge.app import WEBHOOK_PATH
from core import contract
from core.contract import Header
from core.settings import Settings
from devstack.kafka import LocalKafka
from tests.factories import TEST_SECRET, make_event, pretty_body, sign
from tests.ports import free_port, free_port_pair

pytestmark = pytest.mark.integration


def _until(check: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


@contextmanager
def _serving(settings: Settings, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIP_")}
    env |= {
        "DRIP_HTTP_PORT": str(port),
        "DRIP_WEBHOOK_SECRETS": TEST_SECRET,
        "DRIP_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DRIP_TOPIC_PREFIX": settings.topic_prefix,
        "DRIP_TOPIC_PARTITIONS": "1",
        "DRIP_PUBLISH_TIMEOUT_S": "2",
        "DRIP_SPOOL_DIR": str(settings.spool_directory),
    }
    cli = Path(sys.executable).with_name("drip-bridge")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(cli), "serve"], cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _post(port: int, event_id: str) -> httpx.Response:
    body = pretty_body(make_event("member.points.awarded", id=event_id))
    headers = {"Content-Type": "application/json", "X-Drip-Signature": sign(body)}
    return httpx.post(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", content=body, headers=headers)


async def _event_ids(settings: Settings, topic: str) -> list[str]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        (end,) = (await consumer.end_offsets([tp])).values()
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        ids: list[str] = []
        while len(ids) < end:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                ids += [dict(r.headers)[Header.EVENT_ID].decode() for r in records]
        return ids
    finally:
        await consumer.stop()


async def test_killed_receiver_spool_is_drained_by_the_next_one(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    settings = kafka_settings.model_copy(
        update={
            "local_dir": tmp_path,
            "spool_dir": tmp_path / "spool",
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port_pair()}",
            "kafka_heap": "256m",
            "topic_prefix": f"test-{uuid.uuid4().hex[:12]}",
            "topic_partitions": 1,
        }
    )
    broker = LocalKafka(settings, lib=LocalKafka(kafka_settings).lib)
    await asyncio.to_thread(broker.start)
    log = tmp_path / "serve.log"
    ids = [f"spooled-{n}" for n in range(10)]
    try:
        port = free_port()
        with _serving(settings, port, log) as first:
            assert await asyncio.to_thread(_until, lambda: _ready(port), 60), log.read_text()
            assert (await asyncio.to_thread(_post, port, "before")).status_code == 200
            await asyncio.to_thread(broker.stop)
            for event_id in ids:
                answer = await asyncio.to_thread(_post, port, event_id)
                assert answer.status_code == 200, answer.text
                assert answer.json() == {"event_id": event_id, "spooled": True}
            first.send_signal(signal.SIGKILL)
            first.wait(10)

        await asyncio.to_thread(broker.start)
        port = free_port()
        with _serving(settings, port, log):
            assert await asyncio.to_thread(_until, lambda: _ready(port), 60), log.read_text()
            topic = contract.topic_for(settings.topic_prefix, "member.points.awarded")

            def drained() -> bool:
                seen = set(asyncio.run(_event_ids(settings, topic)))
                return {"before", *ids} <= seen

            assert await asyncio.to_thread(_until, drained, 60), log.read_text()
            seen = await _event_ids(settings, topic)
            # The killed receiver's file, drained, is gone; only the running one's is left.
            files = await asyncio.to_thread(
                _until, lambda: len(list(settings.spool_directory.glob("*.sqlite3"))) == 1, 10
            )
            assert files, sorted(p.name for p in settings.spool_directory.iterdir())
        # At least once, in arrival order: each spooled event is there, none is lost.
        assert list(dict.fromkeys(seen)) == ["before", *ids]
    finally:
        await asyncio.to_thread(broker.stop)
