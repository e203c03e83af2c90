"""``drip-bridge consume``: run consumer groups side by side in one process.

Each group gets its own Kafka consumer and PostgreSQL connection (:class:`GroupRuntime`), all
on one asyncio loop. SIGTERM or SIGINT sets a stop flag: every group finishes or rolls back the
batch in hand, leaves its consumer group and closes. A group that fails for good (a missing
table, a refused password, a bug) stops the others too, and the process exits non-zero for its
supervisor (78 for a setting to fix, see :mod:`core.exit_codes`).

Stopping is bounded by ``DRIP_SHUTDOWN_TIMEOUT_S``: past it, the groups' tasks are cancelled,
again and again until they end, so a frozen broker (which would hold a LeaveGroup request for
its 40 s request timeout) cannot hold the process. Kafka away at start-up is waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from consumers import registry
from consumers.engine.connection import Backoff
from consumers.engine.loop import GroupRuntime
from consumers.engine.metrics import ConsumerMetrics
from core.away import Absence
from core.errors import ConfigError, ServiceUnavailable
from core.memory import settle_gc
from core.settings import Settings
from core.topics import ensure_topics

log = logging.getLogger(__name__)


def run_groups(settings: Settings, names: list[str], restarts: int = 0) -> None:
    """Run the groups named (every registered group when ``names`` is empty) until signalled."""
    settle_gc()
    asyncio.run(run(settings, names, restarts=restarts))


async def run(
    settings: Settings, names: Sequence[str], stop: asyncio.Event | None = None, restarts: int = 0
) -> None:
    """The async body of :func:`run_groups`; stops when ``stop`` is set or on a signal."""
    groups = [registry.get(name) for name in dict.fromkeys(names or registry.names())]
    topics = sorted({t for g in groups for t in g.topics(settings.topic_prefix)})
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stopper(stop, signum))
    server = None
    running: list[asyncio.Task[None]] = []
    watchdog = asyncio.create_task(_bound_shutdown(stop, running, settings.shutdown_timeout_s))
    try:
        if not await _topics_ready(settings, topics, stop):
            return
        metrics = ConsumerMetrics()
        metrics.restarts.set(restarts)
        if settings.metrics_port:
            server = _serve_metrics(settings, metrics)
        async with asyncio.TaskGroup() as tasks:
            for group in groups:
                runtime = GroupRuntime(group, settings, metrics)
                running.append(tasks.create_task(_stops_all(runtime.run(stop), stop)))
    finally:
        watchdog.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if server is not None:
            server.shutdown()
            server.server_close()
    log.info("stopped: %s", ", ".join(g.name for g in groups))


def _serve_metrics(settings: Settings, metrics: ConsumerMetrics) -> WSGIServer:
    """Serve ``/metrics`` on DRIP_HTTP_HOST and this process's DRIP_METRICS_PORT (in a thread).

    Each process needs a port of its own; ``consume --processes N`` and ``stack`` hand them out
    (:func:`dripbridge.stack.metrics_ports`). A port in use is a setting to fix, not a crash.
    """
    host, port = settings.http_host, settings.metrics_port
    try:
        server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port} ({exc.strerror}): another process holds "
            "the port; give each consumer process a DRIP_METRICS_PORT of its own (consume "
            "--processes N and stack do), or set it to 0 to turn metrics off"
        ) from exc
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server


async def _topics_ready(settings: Settings, topics: list[str], stop: asyncio.Event) -> bool:
    """Create the missing topics, waiting for Kafka while it is away; False if stopped first."""
    absence = Absence(f"Kafka at {settings.kafka_bootstrap_servers}")
    backoff = Backoff(first_s=0.5, cap_s=10.0)
    while not stop.is_set():
        try:
            await ensure_topics(settings, topics)
        except ServiceUnavailable as exc:
            line = absence.failed(exc.__cause__ or exc)
            if line:
                log.warning("%s", line)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.next())
            continue
        if line := absence.succeeded():
            log.info("%s", line)
        return True
    return False


async def _stops_all(run: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Run a group; when it fails, set ``stop`` so that the shutdown bound applies to all."""
    try:
        await run
    except BaseException:
        stop.set()
        raise


async def _bound_shutdown(
    stop: asyncio.Event, tasks: list[asyncio.Task[None]], limit_s: float
) -> None:
    """``limit_s`` after ``stop`` is set, cancel ``tasks`` until every one has ended.

    Cancelling once is not enough: a task's ``finally`` (leaving the group, closing the
    consumer) may await the frozen broker again, so the cancel is repeated.
    """
    await stop.wait()
    await asyncio.sleep(limit_s)
    log.warning(
        "still stopping after DRIP_SHUTDOWN_TIMEOUT_S=%g s (Kafka or PostgreSQL not answering); "
        "abandoning the rest: leaving the group, closing connections",
        limit_s,
    )
    while not all(task.done() for task in tasks):
        for task in tasks:
            task.cancel()
        await asyncio.sleep(0.1)


def _stopper(stop: asyncio.Event, signum: int) -> Callable[[], None]:
    def handle() -> None:
        if not stop.is_set():
            log.info("%s: finishing the batches in flight", signal.Signals(signum).name)
        stop.set()

    return handle
