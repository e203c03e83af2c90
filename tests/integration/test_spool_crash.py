"""`kill -9` of a receiver that holds spooled events loses none of them: the next receiver,
started on the same spool directory while Kafka is still away, takes new events into its spool
and drains both into Kafka once it is back.

The receiver runs as `drip-bridge serve` (a real process that can be killed) against a broker of
this test alone, which the test stops and starts.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from contextlib import AbstractContextManager
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
from tests.process_env import process_env
from tests.receivers import ready, serve_process
from tests.waiting import until

pytestmark = pytest.mark.integration


def _serving(
    settings: Settings, port: int, log: Path
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    env = process_env(
        settings,
        DRIP_HTTP_PORT=str(port),
        DRIP_WEBHOOK_SECRETS=TEST_SECRET,
        DRIP_TOPIC_PARTITIONS="1",
        DRIP_PUBLISH_TIMEOUT_S="2",
        DRIP_SPOOL_DIR=str(settings.spool_directory),
    )
    return serve_process(env, log)


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
            assert await asyncio.to_thread(until, lambda: ready(port), 60), log.read_text()
            assert (await asyncio.to_thread(_post, port, "before")).status_code == 200
            await asyncio.to_thread(broker.stop)
            for event_id in ids:
                answer = await asyncio.to_thread(_post, port, event_id)
                assert answer.status_code == 200, answer.text
                assert answer.json() == {"event_id": event_id, "spooled": True}
            first.send_signal(signal.SIGKILL)
            first.wait(10)

        port = free_port()
        later = [f"later-{n}" for n in range(5)]
        with _serving(settings, port, log):
            # Kafka is still away: the receiver serves from its spool, and says so.
            assert await asyncio.to_thread(until, lambda: ready(port), 60), log.read_text()
            url = f"http://127.0.0.1:{port}/readyz"
            readiness = (await asyncio.to_thread(httpx.get, url)).json()
            assert readiness["kafka"] == "unreachable"
            assert readiness["spool"]["records"] == len(ids)  # the killed receiver's, claimed
            for event_id in later:
                answer = await asyncio.to_thread(_post, port, event_id)
                assert answer.json() == {"event_id": event_id, "spooled": True}, answer.text

            await asyncio.to_thread(broker.start)
            topic = contract.topic_for(settings.topic_prefix, "member.points.awarded")

            def drained() -> bool:
                seen = set(asyncio.run(_event_ids(settings, topic)))
                return {"before", *ids, *later} <= seen

            assert await asyncio.to_thread(until, drained, 60), log.read_text()
            seen = await _event_ids(settings, topic)
            # The killed receiver's file, drained, is gone; only the running one's is left.
            files = await asyncio.to_thread(
                until, lambda: len(list(settings.spool_directory.glob("*.sqlite3"))) == 1, 10
            )
            assert files, sorted(p.name for p in settings.spool_directory.iterdir())
            after = await asyncio.to_thread(_post, port, "after")
            assert "offset" in after.json(), after.text  # drained: directly to Kafka again
        # At least once, in arrival order: each spooled event is there, none is lost.
        assert list(dict.fromkeys(seen)) == ["before", *ids, *later]
    finally:
        await asyncio.to_thread(broker.stop)
