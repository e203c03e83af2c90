"""``drip-bridge consume``: run consumer groups side by side in one process.

Each group gets its own Kafka consumer and PostgreSQL connection (:class:`GroupRuntime`), all
on one asyncio loop. SIGTERM or SIGINT sets a stop flag: every group finishes or rolls back the
batch in hand, leaves its consumer group and closes. A group that fails for good (a missing
table, a bug) stops the others too, and the process exits non-zero for its supervisor.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Sequence

from prometheus_client import start_http_server

from bridge.topics import ensure_topics
from consumers import registry
from consumers.metrics import ConsumerMetrics
from consumers.runtime import GroupRuntime
from dripbridge.settings import Settings

log = logging.getLogger(__name__)


def run_groups(settings: Settings, names: list[str]) -> None:
    """Run the groups named (every registered group when ``names`` is empty) until signalled."""
    tune_gc()
    asyncio.run(run(settings, names))


def tune_gc() -> None:
    """Keep Python's cycle collector out of the per-event path of a consumer process.

    A batch allocates tens of thousands of short-lived dicts (parsed events), which reference
    counting frees anyway; with the default thresholds the collector would also run every 700
    allocations and keep re-walking the long-lived objects of the Kafka and PostgreSQL clients.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def run(settings: Settings, names: Sequence[str], stop: asyncio.Event | None = None) -> None:
    """The async body of :func:`run_groups`; stops when ``stop`` is set or on a signal."""
    groups = [registry.get(name) for name in dict.fromkeys(names or registry.names())]
    topics = sorted({t for g in groups for t in g.topics(settings.topic_prefix)})
    await ensure_topics(settings, topics)
    metrics = ConsumerMetrics()
    server = None
    if settings.metrics_port:
        server, _ = start_http_server(settings.metrics_port, registry=metrics.registry)
        log.info("metrics on :%d/metrics", settings.metrics_port)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stopper(stop, signum))
    try:
        async with asyncio.TaskGroup() as tasks:
            for group in groups:
                tasks.create_task(GroupRuntime(group, settings, metrics).run(stop))
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if server is not None:
            server.shutdown()
    log.info("stopped: %s", ", ".join(g.name for g in groups))


def _stopper(stop: asyncio.Event, signum: int) -> Callable[[], None]:
    def handle() -> None:
        if not stop.is_set():
            log.info("%s: finishing the batches in flight", signal.Signals(signum).name)
        stop.set()

    return handle
