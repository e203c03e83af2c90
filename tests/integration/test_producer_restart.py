"""The receiver replaces a Kafka producer whose sender stopped, instead of accepting into it."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bridge.app import create_app
from bridge.publisher import Publisher
from core.settings import Settings
from tests.factories import make_event, pretty_body, sign
from tests.integration.test_receiver import post, read_topic

pytestmark = pytest.mark.integration


async def _stop_sender(publisher: Publisher) -> None:
    # What aiokafka does when its sender routine meets an error it does not handle: the task
    # ends, and the producer goes on taking records that nobody sends.
    producer = publisher._producer
    assert producer is not None
    task = producer._sender.sender_task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_stopped_sender_is_replaced_and_events_flow_again(settings: Settings) -> None:
    settings = settings.model_copy(update={"publish_timeout_s": 3.0})
    event = make_event("member.points.awarded", id="evt-after-restart")
    body = pretty_body(event)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://receiver") as client,
    ):
        publisher: Publisher = app.publisher
        first = publisher._producer
        await _stop_sender(publisher)

        for _ in range(400):  # up to 20 s
            if publisher.restarts:
                break
            await asyncio.sleep(0.05)
        assert publisher.restarts == 1
        assert publisher._producer is not None and publisher._producer is not first
        assert (await client.get("/readyz")).status_code == 200

        started = time.monotonic()
        answer = await post(client, body, sign(body))
        assert answer.status_code == 200, answer.text
        # Well within the publish timeout: the record went out at once, not after a retry.
        assert time.monotonic() - started < 2.0

    records = await read_topic(settings, answer.json()["topic"], 1)
    assert [r.value for r in records] == [body]
