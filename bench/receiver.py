"""Receiver benchmark: verified, Kafka-acknowledged events per second, against a bare ceiling.

Starts the real receiver (``drip-bridge serve``: production settings from the environment and
.env, the local Kafka) and, one after the other in the same run, a bare endpoint on the same
server stack (``bench.bare``). Each is driven open loop by ``bench/loadgen`` (Go, built here)
at a ladder of fixed arrival rates with pre-signed, guide-shaped bodies of 500-800 bytes; the
ladder stops at the first rate a server does not sustain, then one step well past it measures
the saturated rate (capacity). The receiver's topics (``bench-<random>.*``) are checked to hold
every accepted event, then deleted.

Run: ``python -m bench.receiver`` (or ``./dev bench receiver``). Loopback only; about 2-3 min.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.harness import LoadGen, Server, Step, cpu_seconds, free_port
from bench.signed_requests import bodies, write_requests
from bridge.app import WEBHOOK_PATH
from dripbridge import contract
from dripbridge.local.kafka import LocalKafka, kafka_answers
from dripbridge.settings import Settings

TARGET_RATE = 3000.0
TARGET_RATIO = 0.40
TARGET_P99_MS = 25.0


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.receiver", description=__doc__)
    parser.add_argument("--rates", default="1000,2000,3000,4000,5000,6000,8000,10000,12000")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each step")
    parser.add_argument("--conns", type=int, default=256, help="keep-alive connections")
    parser.add_argument("--bodies", type=int, default=4000, help="distinct signed bodies")
    parser.add_argument("--only", choices=["bare", "receiver"], help="run one server only")
    parser.add_argument("--keep-topics", action="store_true")
    return parser.parse_args(argv)


def _ladder(
    server: Server, gen: LoadGen, requests: Path, args: argparse.Namespace, kafka_pid: int | None
) -> tuple[list[Step], int]:
    """The steps run against ``server``, and how many 200s it answered in all (warm-up too)."""

    def step(rate: float, seconds: float) -> Step:
        before = server.cpu(), _cpu_or_none(kafka_pid)
        result = gen.run(server.port, requests, rate, seconds, args.conns)
        span = max(result["span_s"], seconds)
        kafka_before = before[1]
        kafka_after = _cpu_or_none(kafka_pid)
        kafka = None if kafka_before is None or kafka_after is None else kafka_after - kafka_before
        return Step(
            server.name,
            rate,
            result,
            (server.cpu() - before[0]) / span,
            None if kafka is None else kafka / span,
        )

    warm_up = step(500, 2.0)  # connections, producer metadata for every partition
    steps: list[Step] = []
    rates = [float(r) for r in args.rates.split(",")]
    for rate in rates:
        steps.append(step(rate, args.seconds))
        _print_step(steps[-1])
        if not steps[-1].sustained:
            break
    saturation = step(steps[-1].rate * 1.5, args.seconds)
    _print_step(saturation, note="saturation")
    steps.append(saturation)
    return steps, warm_up.result["ok"] + sum(s.result["ok"] for s in steps)


def _cpu_or_none(pid: int | None) -> float | None:
    try:
        return None if pid is None else cpu_seconds(pid)
    except OSError:
        return None


def _print_step(s: Step, note: str = "") -> None:
    r = s.result
    other = {k: v for k, v in r["statuses"].items() if k != "200"}
    failed = r["errors"] + r["unfinished"] + sum(other.values())
    kafka = "-" if s.kafka_cpu is None else f"{s.kafka_cpu:.0%}"
    loadgen = r["loadgen_cpu_s"] / max(r["span_s"], r["duration_s"])
    print(
        f"{s.target:9} {s.rate:8.0f} {r['accepted_per_s']:10.0f} {r['p50_ms']:7.1f} "
        f"{r['p99_ms']:8.1f} {r['max_ms']:8.1f} {failed:7d} {s.server_cpu:7.0%} {kafka:>6} "
        f"{loadgen:7.0%}  {'ok' if s.sustained else 'NOT sustained'} {note}",
        flush=True,
    )


def _header() -> None:
    print(
        f"{'target':9} {'offered':>8} {'accepted/s':>10} {'p50 ms':>7} {'p99 ms':>8} "
        f"{'max ms':>8} {'failed':>7} {'server':>7} {'kafka':>6} {'loadgen':>7}"
        "  (cpu: 100% = one core)"
    )


async def _kafka_records(settings: Settings, prefix: str, delete: bool) -> int:
    """Records in the benchmark's topics; the topics are deleted afterwards unless kept."""
    names = contract.topics(prefix)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in names for p in range(settings.topic_partitions)]
        total = sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()
    if delete:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics(names)
        finally:
            await admin.close()
    return total


def _summary(bare: list[Step], receiver: list[Step], answered: int, stored: int | None) -> None:
    def best(steps: list[Step]) -> float:
        return max((s.result["accepted_per_s"] for s in steps if s.sustained), default=0.0)

    def capacity(steps: list[Step]) -> float:
        return max(s.result["accepted_per_s"] for s in steps)

    print("\nsummary")
    for name, steps in (("bare", bare), ("receiver", receiver)):
        if steps:
            print(
                f"  {name:9} capacity {capacity(steps):7.0f}/s   "
                f"highest sustained step {best(steps):7.0f}/s"
            )
    if receiver:
        at_1000 = next((s for s in receiver if s.rate == 1000), None)
        print(f"  receiver: 200s answered {answered}, records in Kafka {stored}")
        rate = capacity(receiver)
        print(f"  target >= {TARGET_RATE:.0f} verified, acked events/s: {rate:.0f}/s", end="")
        print("  PASS" if rate >= TARGET_RATE else "  FAIL")
        if at_1000 is not None:
            p99 = at_1000.result["p99_ms"]
            verdict = "PASS" if p99 <= TARGET_P99_MS else "FAIL"
            print(f"  target p99 <= {TARGET_P99_MS:.0f} ms at 1000/s: {p99:.1f} ms  {verdict}")
    if bare and receiver:
        ratio = capacity(receiver) / capacity(bare)
        verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
        print(f"  target >= {TARGET_RATIO:.0%} of bare capacity: {ratio:.0%}  {verdict}")
        if best(bare):
            print(f"  sustained-step ratio: {best(receiver) / best(bare):.0%}")


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    settings = Settings()
    if not kafka_answers(settings.kafka_bootstrap_servers):
        sys.exit(f"Kafka does not answer on {settings.kafka_bootstrap_servers}: ./dev bench")
    kafka_pid = LocalKafka(settings).daemon.pid()
    secret = secrets.token_urlsafe(24)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    print(
        f"cores {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"linger_ms {settings.linger_ms}, partitions {settings.topic_partitions}, "
        f"{args.conns} connections, {args.seconds:g} s steps, topics {prefix}.*",
        flush=True,
    )
    bare_steps: list[Step] = []
    receiver_steps: list[Step] = []
    stored = None
    answered = 0
    with tempfile.TemporaryDirectory(prefix="drip-bench-") as tmp:
        work = Path(tmp)
        gen = LoadGen(work)
        requests = work / "requests.bin"
        write_requests(requests, bodies(args.bodies), secret, WEBHOOK_PATH)
        _header()
        if args.only in (None, "bare"):
            port = free_port()
            env = {**os.environ, "DRIP_HTTP_PORT": str(port)}
            bare = Server("bare", [sys.executable, "-m", "bench.bare"], env, port, work / "b.log")
            try:
                bare.wait_ready("/healthz")
                bare_steps, _ = _ladder(bare, gen, requests, args, None)
            finally:
                bare.stop()
        if args.only in (None, "receiver"):
            port = free_port()
            env = {
                **os.environ,
                "DRIP_HTTP_PORT": str(port),
                "DRIP_WEBHOOK_SECRETS": secret,
                "DRIP_TOPIC_PREFIX": prefix,
            }
            cli = str(Path(sys.executable).with_name("drip-bridge"))
            receiver = Server("receiver", [cli, "serve"], env, port, work / "r.log")
            try:
                receiver.wait_ready("/readyz")
                receiver_steps, answered = _ladder(receiver, gen, requests, args, kafka_pid)
            finally:
                receiver.stop()
            stored = asyncio.run(_kafka_records(settings, prefix, not args.keep_topics))
    _summary(bare_steps, receiver_steps, answered, stored)


if __name__ == "__main__":
    main()
