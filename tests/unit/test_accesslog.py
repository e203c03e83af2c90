"""Access lines: one JSON object per request, batched, flushed within the window."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from bridge.accesslog import LOGGER, AccessLog, plain_lines


async def test_lines_are_batched_then_flushed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    log = AccessLog(flush_s=0.05)
    log.request("POST", "/webhooks/drip", 200, 3.14159, "member.joined", "e1", "p.member.joined",
                "raw")  # fmt: skip
    log.request("POST", "/webhooks/drip", 401, 0.2, error="X-Drip-Signature header is missing")
    assert caplog.records == []
    await asyncio.sleep(0.1)
    [record] = caplog.records
    first, second = (json.loads(line) for line in record.getMessage().split("\n"))
    assert first["status"] == 200
    assert first["latency_ms"] == 3.142
    assert (first["event_id"], first["topic"], first["signature_form"]) == (
        "e1",
        "p.member.joined",
        "raw",
    )
    assert first["time"].endswith("+00:00")
    assert (second["status"], second["event_id"]) == (401, None)
    assert set(first) == set(second)


async def test_nothing_queued_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER.name)
    log = AccessLog(flush_s=0.01)
    log.request("POST", "/webhooks/drip", 200, 1.0)
    log.flush()
    assert caplog.records == []


def test_plain_lines_writes_json_lines_only() -> None:
    stream = io.StringIO()
    handlers, propagate = list(LOGGER.handlers), LOGGER.propagate
    try:
        plain_lines(stream)
        LOGGER.setLevel(logging.INFO)
        LOGGER.info('{"a":1}\n{"b":2}')
    finally:
        LOGGER.handlers[:] = handlers
        LOGGER.propagate = propagate
        LOGGER.setLevel(logging.NOTSET)
    assert stream.getvalue() == '{"a":1}\n{"b":2}\n'
