"""Hostile-load benchmark: valid deliveries' latency while another client attacks the receiver.

Starts the real receiver (``drip-bridge serve``, production settings and limits from the
environment, the local Kafka) and sends valid signed deliveries at 500/s from 127.0.0.1 with
``bench/loadgen``, first alone (quiet), then while a client on 127.0.0.2 attacks:

junk       wrongly signed ~1 KB bodies at 2,000/s (loadgen)
slowloris  1,000 connections sending request headers a byte every 2-4 s (asyncio)
deep-json  bodies nested 5,000 deep, half signed, half wrongly signed, at 500/s (loadgen)
oversize   2 MiB declared in Content-Length, and 1.1 MiB chunked, at 100/s (loadgen)

Each phase runs ``--seconds`` of valid traffic, the attack starting ``--lead`` seconds before;
everything is bounded in count and time and stops by itself. Prints one table, then the CPU
cost of one 401 (and one 429) for a wrongly signed 1 MiB body, measured in this process on the
receiver's own endpoint. The topics (``bench-hostile-<random>.*``) are deleted afterwards.

Run: ``python -m bench.hostile``. Loopback only; about 1.5 min.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import struct
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from bench.harness import LoadGen, Server, free_port
from bench.signed_requests import bodies, write_requests
from bridge.accesslog import AccessLog
from bridge.app import WEBHOOK_PATH
from bridge.metrics import Metrics
from bridge.publisher import Publisher
from bridge.webhook import WebhookEndpoint
from core import contract
from core.contract import signature_header
from core.settings import Settings
from devstack.kafka import kafka_answers

VALID_SOURCE = "127.0.0.1"
ATTACK_SOURCE = "127.0.0.2"
VALID_RATE = 500.0
TARGET_P99_RATIO = 3.0
TARGET_401_CPU_MS = 5.0
_WRONG_SECRET = "not-the-receivers-secret"


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--seconds", type=float, default=12.0, help="valid traffic per phase")
    parser.add_argument("--lead", type=float, default=3.0, help="attack start before it")
    parser.add_argument("--conns", type=int, default=64, help="valid traffic's connections")
    parser.add_argument("--slow-conns", type=int, default=1000, help="slowloris connections")
    parser.add_argument("--cpu-requests", type=int, default=40, help="1 MiB bodies timed")
    return parser.parse_args(argv)


def _record(request: bytes) -> bytes:
    return struct.pack(">I", len(request)) + request


def _post(body: bytes, signature: str, extra: str = "") -> bytes:
    head = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Drip-Signature: {signature}\r\n{extra}"
    )
    if "Transfer-Encoding" not in extra and "Content-Length" not in extra:
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode("ascii") + body


def _write_junk(path: Path) -> None:
    """Wrongly signed bodies padded to 1 KiB (trailing whitespace keeps them JSON)."""
    padded = [body.ljust(1024) for body in bodies(500, seed=11)]
    write_requests(path, padded, _WRONG_SECRET, WEBHOOK_PATH)


def _write_deep(path: Path, secret: str) -> None:
    """Arrays nested 5,000 deep (past orjson's 1,024 and Python's recursion limit), signed and
    not."""
    body = b'{"type": "member.joined", "data": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    with path.open("wb") as out:
        out.write(_record(_post(body, signature_header(body, secret))))
        out.write(_record(_post(body, signature_header(body, _WRONG_SECRET))))


def _write_oversize(path: Path, secret: str, max_body: int) -> None:
    """2 MiB declared (only the headers and a little body sent), and 1.1 MiB chunked."""
    declared = _post(
        b'{"type": "member.joined"}', signature_header(b"x", secret), "Content-Length: 2097152\r\n"
    )
    chunk = b" " * 65536
    count = (max_body * 11 // 10) // len(chunk) + 1
    chunked = _post(
        b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(count)) + b"0\r\n\r\n",
        signature_header(b"x", secret),
        "Transfer-Encoding: chunked\r\n",
    )
    with path.open("wb") as out:
        out.write(_record(declared))
        out.write(_record(chunked))


class _Slowloris:
    """Connections from ``source`` that send request headers a byte every 2-4 s.

    A connection the server answers or closes is counted and opened again, until ``seconds``
    pass; then every connection is closed.
    """

    def __init__(self, port: int, source: str, conns: int, seconds: float) -> None:
        self.port, self.source, self.conns, self.seconds = port, source, conns, seconds
        self.statuses: Counter[str] = Counter()
        self.opened = 0

    async def run(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.seconds
        await asyncio.gather(*(self._one(i, deadline) for i in range(self.conns)))
        return {"offered": self.opened, "statuses": dict(self.statuses)}

    async def _one(self, n: int, deadline: float) -> None:
        header = b"POST /webhooks/drip HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
        interval = 2.0 + (n % 20) / 10
        await asyncio.sleep((n % 100) / 100)  # spread the connects over a second
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", self.port, local_addr=(self.source, 0)
                )
            except OSError:
                self.statuses["connect error"] += 1
                await asyncio.sleep(1)
                continue
            self.opened += 1
            outcome = "open at end"
            try:
                for byte in header:
                    if time.monotonic() >= deadline:
                        break
                    writer.write(bytes((byte,)))
                    wait = min(interval, max(0.0, deadline - time.monotonic()))
                    try:
                        answer = await asyncio.wait_for(reader.read(4096), wait)
                    except TimeoutError:
                        continue
                    outcome = answer[9:12].decode("ascii", "replace") if answer else "closed"
                    break
            except OSError:
                outcome = "reset"
            finally:
                writer.close()
            self.statuses[outcome] += 1


async def _phase(
    server: Server,
    gen: LoadGen,
    valid: Path,
    args: argparse.Namespace,
    attack: Callable[[float], Awaitable[dict[str, Any]]] | None,
) -> tuple[dict[str, Any], dict[str, Any] | None, float]:
    """Valid traffic for ``args.seconds``, the attack (if any) from ``args.lead`` before; the
    results, and the receiver's CPU use over the phase (1.0 = one core)."""
    cpu_before, started = server.cpu(), time.monotonic()
    attacking = None
    if attack is not None:
        attacking = asyncio.ensure_future(attack(args.seconds + args.lead))
        await asyncio.sleep(args.lead)
    result = await asyncio.to_thread(
        gen.run, server.port, valid, VALID_RATE, args.seconds, args.conns, VALID_SOURCE
    )
    attacked = await attacking if attacking is not None else None
    return result, attacked, (server.cpu() - cpu_before) / (time.monotonic() - started)


def _loadgen_attack(
    server: Server, gen: LoadGen, requests: Path, rate: float, conns: int
) -> Callable[[float], Awaitable[dict[str, Any]]]:
    def run(seconds: float) -> Awaitable[dict[str, Any]]:
        return asyncio.to_thread(
            gen.run, server.port, requests, rate, seconds, conns, ATTACK_SOURCE
        )

    return run


def _row(
    name: str, valid: dict[str, Any], quiet_p99: float, attack: dict[str, Any] | None, cpu: float
) -> str:
    ratio = valid["p99_ms"] / quiet_p99 if quiet_p99 else float("nan")
    if attack is None:
        sent, statuses = "-", "-"
    else:
        sent = str(attack["offered"])
        counts = Counter({k: v for k, v in attack["statuses"].items()})
        if attack.get("errors"):
            counts["error"] += attack["errors"]
        if attack.get("unfinished"):
            counts["unfinished"] += attack["unfinished"]
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(counts.items()))
    return (
        f"| {name:10} | {valid['offered']:6d} | {valid['ok']:6d} | {valid['p50_ms']:7.1f} "
        f"| {valid['p99_ms']:7.1f} | {ratio:5.1f}x | {cpu:4.0%} | {sent:>7} | {statuses} |"
    )


async def _delete_topics(settings: Settings, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics(contract.topics(prefix))
    finally:
        await admin.close()


def _mib_body(size: int) -> bytes:
    """A pretty-printed JSON event of at most ``size`` bytes, nearly that: the costliest body
    to refuse (its compact form is decoded and written again before the signature is known
    bad). Items are added in steps, each body measured once."""
    event: dict[str, Any] = {"type": "member.joined", "data": {"items": []}}
    items: list[dict[str, Any]] = event["data"]["items"]
    body = json.dumps(event, indent=2).encode()
    step = 1024
    while step:
        start = len(items)
        items.extend(
            {"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(start, start + step)
        )
        candidate = json.dumps(event, indent=2).encode()
        if len(candidate) <= size:
            body = candidate
        else:
            del items[start:]
            step //= 2
    return body


async def _answer_cpu_ms(settings: Settings, body: bytes, count: int) -> tuple[float, Counter[int]]:
    """CPU ms per request of the receiver's endpoint answering ``count`` wrongly signed posts."""
    endpoint = WebhookEndpoint(settings, Publisher(settings), Metrics(), AccessLog())
    statuses: Counter[int] = Counter()
    signature = signature_header(body, _WRONG_SECRET).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": WEBHOOK_PATH,
        "client": (ATTACK_SOURCE, 40000),
        "headers": [
            (b"content-length", str(len(body)).encode()),
            (b"x-drip-signature", signature),
        ],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] += 1

    started = time.process_time()
    for _ in range(count):
        await endpoint(scope, receive, send)
    return (time.process_time() - started) / count * 1000, statuses


def _cpu_report(settings: Settings, secret: str, count: int) -> None:
    body = _mib_body(settings.max_body_bytes)
    keyed = {"webhook_secrets": [SecretStr(secret)]}
    unlimited = settings.model_copy(update={**keyed, "failure_burst": 10**9})
    ms_401, statuses_401 = asyncio.run(_answer_cpu_ms(unlimited, body, count))
    limited = settings.model_copy(update={**keyed, "failure_burst": 1, "failure_rate_per_s": 0.001})
    ms_429, statuses_429 = asyncio.run(_answer_cpu_ms(limited, body, count))
    verdict = "PASS" if ms_401 <= TARGET_401_CPU_MS else "FAIL"
    print(
        f"\nCPU per wrongly signed {len(body)}-byte body ({count} requests, in-process): "
        f"{ms_401:.2f} ms answering 401 ({dict(statuses_401)}), {ms_429:.2f} ms once the "
        f"client is over budget ({dict(statuses_429)}); target 401 <= {TARGET_401_CPU_MS:g} ms "
        f"{verdict}"
    )


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    settings = Settings()
    if not kafka_answers(settings.kafka_bootstrap_servers):
        sys.exit(f"Kafka does not answer on {settings.kafka_bootstrap_servers}: ./dev bench")
    secret = secrets.token_urlsafe(24)
    prefix = f"bench-hostile-{uuid.uuid4().hex[:8]}"
    print(
        f"cores {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"valid {VALID_RATE:.0f}/s from {VALID_SOURCE} over {args.conns} connections, "
        f"attacks from {ATTACK_SOURCE}; {args.seconds:g} s phases; topics {prefix}.*",
        flush=True,
    )
    rows = []
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="drip-hostile-") as tmp:
        work = Path(tmp)
        gen = LoadGen(work)
        valid, junk, deep, oversize = (work / f"{n}.bin" for n in ("valid", "junk", "deep", "big"))
        write_requests(valid, bodies(2000), secret, WEBHOOK_PATH)
        _write_junk(junk)
        _write_deep(deep, secret)
        _write_oversize(oversize, secret, settings.max_body_bytes)
        port = free_port()
        env = {
            **os.environ,
            "DRIP_HTTP_PORT": str(port),
            "DRIP_WEBHOOK_SECRETS": secret,
            "DRIP_TOPIC_PREFIX": prefix,
        }
        cli = str(Path(sys.executable).with_name("drip-bridge"))
        server = Server("receiver", [cli, "serve"], env, port, work / "receiver.log")
        try:
            server.wait_ready("/readyz")
            # Warm-up, not counted: a broker's produce path compiles in its first seconds.
            gen.run(port, valid, VALID_RATE, 5.0, args.conns, VALID_SOURCE)
            phases: list[tuple[str, Callable[[float], Awaitable[dict[str, Any]]] | None]] = [
                ("quiet", None),
                ("junk", _loadgen_attack(server, gen, junk, 2000, 64)),
                (
                    "slowloris",
                    lambda s: _Slowloris(port, ATTACK_SOURCE, args.slow_conns, s).run(),
                ),
                ("deep-json", _loadgen_attack(server, gen, deep, 500, 16)),
                ("oversize", _loadgen_attack(server, gen, oversize, 100, 16)),
            ]
            quiet_p99 = 0.0
            for name, attack in phases:
                result, attacked, cpu = asyncio.run(_phase(server, gen, valid, args, attack))
                quiet_p99 = quiet_p99 or result["p99_ms"]
                ratios[name] = result["p99_ms"] / quiet_p99
                rows.append(_row(name, result, quiet_p99, attacked, cpu))
                print(rows[-1], flush=True)
        finally:
            server.stop()
            asyncio.run(_delete_topics(settings, prefix))
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(
        "| phase      | valid  | 200    | p50 ms  | p99 ms  | p99/quiet | server CPU "
        "| attack requests | attack answers |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(row)
    for name in ("junk", "slowloris"):
        if name in ratios:
            verdict = "PASS" if ratios[name] <= TARGET_P99_RATIO else "FAIL"
            print(
                f"target: valid p99 under {name} within {TARGET_P99_RATIO:g}x of quiet: "
                f"{ratios[name]:.1f}x  {verdict}"
            )
    _cpu_report(settings, secret, args.cpu_requests)


if __name__ == "__main__":
    main()
