"""Deadlines cancel only publishes that outlive their time limit, and say which ones they did."""

from __future__ import annotations

import asyncio

import pytest

from bridge.deadlines import Deadlines


@pytest.mark.parametrize(("wait_s", "expired"), [(0.01, False), (0.5, True)])
async def test_deadlines(wait_s: float, expired: bool) -> None:
    deadlines = Deadlines(0.1)
    deadlines.start()
    outcome: list[bool] = []

    async def publish() -> None:
        task = asyncio.current_task()
        assert task is not None
        deadlines.watch(task)
        try:
            await asyncio.sleep(wait_s)
        except asyncio.CancelledError:
            outcome.append(deadlines.release(task))
            return
        outcome.append(deadlines.release(task))

    try:
        await asyncio.wait_for(publish(), 2)
    finally:
        await deadlines.stop()
    assert outcome == [expired]


async def test_a_released_publish_is_never_cancelled() -> None:
    deadlines = Deadlines(0.05)
    deadlines.start()
    try:
        task = asyncio.current_task()
        assert task is not None
        deadlines.watch(task)
        assert deadlines.release(task) is False
        await asyncio.sleep(0.2)  # several sweeps: none may cancel this task
    finally:
        await deadlines.stop()
