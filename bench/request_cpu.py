"""CPU per request of the receiver's own layers, in one process: the app as built, against the
same routes inside a ``Starlette`` application (docs/performance.md, "Router as the app").

    python -m bench.request_cpu [--requests 12000] [--rounds 5] [--concurrency 64]

No sockets and no load generator: signed requests are fed to the server's real protocol
(``bridge.server.uvicorn_config``: httptools, the receiver's limits) through an in-memory
transport, and run through the real app, endpoint, spool route, waves and publisher. Only the
producer's ``send`` is replaced, by one that acknowledges on the next loop turn, so Kafka's
timing does not blur the comparison; start-up still needs the local Kafka. Requests go in
waves of ``--concurrency`` at a time. The two apps take turns, ``--rounds`` each, and the run
prints the median CPU time per request of each and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, cast

import uvloop
from starlette.applications import Starlette
from starlette.types import ASGIApp
from uvicorn.lifespan.on import LifespanOn
from uvicorn.server import ServerState

from bench.signed_requests import bodies
from bridge.app import WEBHOOK_PATH, create_app
from bridge.server import uvicorn_config
from core.contract import signature_header
from core.settings import Settings

_SECRET = "bench-request-cpu-secret"


class _Metadata(NamedTuple):
    partition: int
    offset: int


class _Transport:
    """What the protocol writes to: counts the answers' status lines, keeps nothing else."""

    def __init__(self, answered: Callable[[bytes], None]) -> None:
        self._answered = answered
        self._closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data: bytes) -> None:
        if data.startswith(b"HTTP/1.1 "):
            self._answered(data[9:12])

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _requests(count: int) -> list[bytes]:
    out = []
    for body in bodies(count):
        head = (
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nX-Drip-Signature: "
            f"{signature_header(body, _SECRET)}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode("ascii") + body)
    return out


class _Driver:
    """Feeds requests to ``concurrency`` connections of one app and waits for the answers."""

    def __init__(self, app: ASGIApp, settings: Settings, state: dict[str, Any], conns: int) -> None:
        config = uvicorn_config(app, settings)
        config.load()
        loop = asyncio.get_running_loop()
        server = ServerState()
        self.statuses: dict[bytes, int] = {}
        self._pending = 0
        self._done = asyncio.Event()
        self._connections = []
        for _ in range(conns):
            protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=server, app_state=state, _loop=loop
            )
            protocol.connection_made(cast(asyncio.Transport, _Transport(self._answered)))
            self._connections.append(protocol)

    def _answered(self, status: bytes) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self._pending -= 1
        if self._pending == 0:
            self._done.set()

    async def run(self, requests: list[bytes], count: int) -> float:
        """CPU seconds per request over ``count`` requests."""
        started = time.process_time()
        sent = 0
        while sent < count:
            self._done.clear()
            self._pending = len(self._connections)
            for protocol in self._connections:
                protocol.data_received(requests[sent % len(requests)])
                sent += 1
            await self._done.wait()
        return (time.process_time() - started) / sent


async def _main(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    spool_dir = Path(tempfile.mkdtemp(prefix="drip-request-cpu-"))
    settings = Settings(
        webhook_secrets=_SECRET,  # type: ignore[arg-type]
        topic_prefix=f"bench-cpu-{uuid.uuid4().hex[:8]}",
        spool_dir=spool_dir,
    )
    app = create_app(settings)
    lifespan = LifespanOn(uvicorn_config(app, settings))
    await lifespan.startup()
    if lifespan.should_exit:
        raise SystemExit("the receiver did not start: is Kafka up (drip-bridge local start)?")
    # The one stand-in of this bench: the running producer's send.
    producer = app.publisher._producer
    assert producer is not None
    loop = asyncio.get_running_loop()
    offsets = iter(range(1 << 62))

    async def acknowledge(topic: str, value: bytes, **_: Any) -> asyncio.Future[_Metadata]:
        done: asyncio.Future[_Metadata] = loop.create_future()
        loop.call_soon(done.set_result, _Metadata(0, next(offsets)))
        return done

    producer.send = acknowledge  # type: ignore[method-assign]
    requests = _requests(4000)
    drivers = {
        "router (as built)": _Driver(app, settings, lifespan.state, args.concurrency),
        "inside Starlette": _Driver(
            Starlette(routes=app.routes), settings, lifespan.state, args.concurrency
        ),
    }
    for driver in drivers.values():
        await driver.run(requests, 2000)  # warm-up
    results: dict[str, list[float]] = {name: [] for name in drivers}
    for _ in range(args.rounds):
        for name, driver in drivers.items():
            results[name].append(await driver.run(requests, args.requests))
    await lifespan.shutdown()
    medians = {name: statistics.median(values) * 1e6 for name, values in results.items()}
    print(f"{args.rounds} rounds of {args.requests} requests, {args.concurrency} at a time")
    for name, values in results.items():
        runs = " ".join(f"{v * 1e6:.1f}" for v in values)
        answers = drivers[name].statuses
        print(f"{name:18} median {medians[name]:6.1f} µs CPU/request  (runs {runs}; {answers})")
    base, built = medians["inside Starlette"], medians["router (as built)"]
    print(f"router ÷ Starlette: {built / base:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=12000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per app")
    parser.add_argument("--concurrency", type=int, default=64, help="requests at a time")
    uvloop.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
