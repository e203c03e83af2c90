"""Answer latency while Kafka is away: the receiver spooling at a steady rate, against the same
receiver publishing directly.

    python -m bench.spool_latency [--rate 200] [--seconds 15]

Starts a private one-node Kafka and a ``drip-bridge serve`` receiver (the fault suite's
``Stack``: own ports, own directory; no consumers, no PostgreSQL), then sends signed events at
``--rate`` (``bench/faults_load.py``) in three phases:

1. **direct**: Kafka up, for ``--seconds``;
2. Kafka stopped; load until the receiver answers a first ``spooled`` (the outage detected,
   after the publish deadline); these answers are not counted;
3. **spooled**: load for ``--seconds`` more, every answer spooled.

Kafka is then started again and the run waits until the receiver's spool is empty. Prints
p50, p99 and max of each phase. Target: p99 under 100 ms while spooling. Exit status 1 when
the target is missed or an answer was not 200.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvloop

from bench.faults_check import p99_ms
from bench.faults_load import Load, Outcome
from bench.faults_stack import Stack
from core.settings import Settings
from devstack.kafka import LocalKafka
from devstack.process import wait_for

TARGET_P99_MS = 100.0
NO_DATABASE = "postgresql://unused@127.0.0.1:1/unused"  # the receiver never connects to it


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.spool_latency", description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="signed events per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    return parser.parse_args(argv)


def _percentiles(outcomes: list[Outcome]) -> str:
    latencies = sorted(o.latency_s * 1000 for o in outcomes)
    if not latencies:
        return "no answers"
    return (
        f"{len(latencies):6d} answers  p50 {latencies[len(latencies) // 2]:6.1f} ms  "
        f"p99 {_p99(outcomes):6.1f} ms  max {latencies[-1]:6.1f} ms"
    )


def _p99(outcomes: list[Outcome]) -> float:
    return p99_ms([o.latency_s for o in outcomes]) or 0.0


async def _phase(stack: Stack, secret: str, rate: float, seconds: float) -> list[Outcome]:
    return await Load(stack.port, secret, uuid.uuid4().hex[:8], rate).run(seconds)


async def _until_spooling(stack: Stack, secret: str, rate: float) -> list[Outcome]:
    """Load until an answer says ``spooled``; returns the answers of that wait."""
    load = Load(stack.port, secret, uuid.uuid4().hex[:8], rate)
    sending = asyncio.create_task(load.run(120.0))
    for _ in range(2400):  # 120 s in steps of 50 ms
        if sending.done() or any(o.spooled for o in load.outcomes):
            break
        await asyncio.sleep(0.05)
    load.stop()
    return await sending


def _spool_depth(stack: Stack) -> int:
    body = httpx.get(f"http://127.0.0.1:{stack.port}/readyz", timeout=5).json()
    return int(body["spool"]["records"])


async def _run(args: argparse.Namespace, work: Path, lib: Path) -> bool:
    secret = secrets.token_urlsafe(24)
    stack = Stack(work, lib, NO_DATABASE, secret)
    try:
        await asyncio.to_thread(stack.start_kafka)
        await asyncio.to_thread(stack.start_receiver)
        direct = await _phase(stack, secret, args.rate, args.seconds)
        await asyncio.to_thread(stack.stop_kafka)
        detecting = await _until_spooling(stack, secret, args.rate)
        spooled = await _phase(stack, secret, args.rate, args.seconds)
        await asyncio.to_thread(stack.start_kafka)
        drained = await asyncio.to_thread(wait_for, lambda: _spool_depth(stack) == 0, 300, 0.5)
    finally:
        await asyncio.to_thread(stack.stop_all)
    print(f"direct (Kafka up)       {_percentiles(direct)}")
    print(f"until the first spooled {_percentiles(detecting)}  (waited the publish deadline)")
    print(f"spooled (Kafka away)    {_percentiles(spooled)}")
    refused = [o for o in direct + detecting + spooled if o.status != 200]
    not_spooled = [o for o in spooled if not o.spooled]
    p99 = _p99(spooled)
    ok = not refused and not not_spooled and drained and p99 < TARGET_P99_MS
    print(
        f"target p99 < {TARGET_P99_MS:.0f} ms while spooling: {p99:.1f} ms; "
        f"answers other than 200: {len(refused)}; spool drained: {'yes' if drained else 'no'}  "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return ok


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    shared = LocalKafka(Settings())
    shared.install()  # the jars only; no broker is started
    work = Path(tempfile.mkdtemp(prefix="drip-spool-latency-"))
    print(
        f"spool latency {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{args.rate:g} events/s, {args.seconds:g} s phases",
        flush=True,
    )
    try:
        ok = uvloop.run(_run(args, work, shared.lib))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
