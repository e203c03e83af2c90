"""The receiver's ASGI app: the webhook route, health, readiness and metrics.

The app is Starlette's :class:`~starlette.routing.Router` on its own, without the
:class:`~starlette.applications.Starlette` wrapper: that wrapper adds an error middleware and
an exception middleware around every request, which the receiver does not use (the endpoint
answers each of its errors itself, and uvicorn answers 500 for a bug) and which cost more per
request than the receiver's own limits (docs/performance.md, "Router as the app").

Start-up (the lifespan) opens the spool (unless it is turned off), creates any missing contract
topic and starts the one shared producer; the spool's drainer first sends what an earlier
process left. When Kafka does not answer at start-up, a receiver with a spool serves anyway:
it spools every record and keeps trying to connect in the background, and the drainer sends
the spool once Kafka answers. Without a spool it does not start. Shutdown stops the drainer
(spooled records stay on disk for the next start) and flushes the producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from bridge.accesslog import AccessLog
from bridge.metrics import CONTENT_TYPE, Metrics
from bridge.publisher import Publisher
from bridge.spool import Spool
from bridge.spool_drain import BACKOFF_S, SpoolRoute
from bridge.webhook import WebhookEndpoint
from core.away import Absence
from core.errors import ServiceUnavailable
from core.settings import Settings
from core.topics import ensure_topics

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/drip"

# A readiness probe should answer well within a probe period even when Kafka hangs.
_READY_TIMEOUT_S = 2.0


class ReceiverApp(Router):
    """The receiver's routes and start-up, and the producer they share."""

    def __init__(
        self,
        routes: list[Route],
        lifespan: Callable[[object], AbstractAsyncContextManager[None]],
        publisher: Publisher,
    ) -> None:
        super().__init__(routes=routes, lifespan=lifespan)
        self.publisher = publisher


def create_app(settings: Settings, restarts: int = 0) -> ReceiverApp:
    """The receiver for ``settings``; ConfigError at once when no webhook secret is set.

    ``restarts``: how often a supervisor restarted this process so far (a metric).
    """
    settings.require_webhook_secrets()
    publisher = Publisher(settings)
    metrics = Metrics(restarts)
    access_log = AccessLog()
    endpoint = WebhookEndpoint(settings, publisher, metrics, access_log)
    ready_timeout_s = min(_READY_TIMEOUT_S, settings.publish_timeout_s)

    async def kafka_ready() -> bool:
        return await publisher.ready(ready_timeout_s)

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        spool = await Spool.from_settings(settings)
        connecting: asyncio.Task[None] | None = None
        try:
            await _connect(settings, publisher)
        except ServiceUnavailable as exc:
            if spool is None:
                raise
            absence = Absence(f"Kafka at {settings.kafka_bootstrap_servers}")
            log.warning("%s; serving from the spool meanwhile", absence.failed(exc))
            connecting = asyncio.get_running_loop().create_task(
                _connect_when_back(settings, publisher, absence)
            )
        except BaseException:
            if spool is not None:
                await spool.close()
            raise
        if spool is not None:
            endpoint.route = SpoolRoute(
                spool, publisher.publish, kafka_ready, batch=settings.spool_drain_batch
            )
            endpoint.route.start()
            metrics.watch_spool(spool)
        try:
            yield
        finally:
            if connecting is not None:
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting
            await _stop_within(settings.shutdown_timeout_s, endpoint, publisher)
            access_log.flush()

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "up"})

    async def readyz(_: Request) -> Response:
        """200 while events are taken: Kafka answers, or the spool has room for them."""
        route = endpoint.route
        kafka = await kafka_ready()
        body: dict[str, object] = {"kafka": "reachable" if kafka else "unreachable"}
        if route is not None:
            spool = route.spool
            body |= {"spool": {"records": spool.depth, "bytes": spool.bytes, "full": spool.full}}
            taking = kafka or not spool.full
        else:
            taking = kafka
        if taking:
            return JSONResponse({"status": "ready", **body})
        return JSONResponse(
            {"status": "not ready", **body},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    async def metrics_page(_: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return ReceiverApp(
        [
            Route(WEBHOOK_PATH, endpoint, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_page, methods=["GET"]),
        ],
        lifespan,
        publisher,
    )


async def _connect(settings: Settings, publisher: Publisher) -> None:
    """Create missing topics and start the producer; ServiceUnavailable when Kafka does not
    answer within DRIP_PUBLISH_TIMEOUT_S."""
    try:
        async with asyncio.timeout(settings.publish_timeout_s):
            await ensure_topics(settings)
            await publisher.start()
    except TimeoutError as exc:
        raise ServiceUnavailable(
            f"Kafka at {settings.kafka_bootstrap_servers} did not answer within "
            f"DRIP_PUBLISH_TIMEOUT_S={settings.publish_timeout_s:g} s"
        ) from exc


async def _connect_when_back(settings: Settings, publisher: Publisher, absence: Absence) -> None:
    """:func:`_connect` again and again, backing off as the drainer does, until it succeeds."""
    attempt = 0
    while True:
        await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        attempt += 1
        try:
            await _connect(settings, publisher)
        except Exception as exc:  # a receiver serving from its spool must keep trying
            if line := absence.failed(exc):
                log.warning("%s", line)
            continue
        if line := absence.succeeded():
            log.info("%s; the spool drains into it", line)
        return


async def _stop_within(timeout_s: float, endpoint: WebhookEndpoint, publisher: Publisher) -> None:
    """Stop the drainer, close the spool and flush the producer, giving up after ``timeout_s``.

    Giving up loses nothing that was answered 200: a record is answered 200 only once Kafka
    acknowledged it or the spool holds it on disk. What the producer still buffers was answered
    503 (or spooled) when its deadline passed.
    """
    try:
        async with asyncio.timeout(timeout_s):
            if endpoint.route is not None:
                await endpoint.route.stop()
                await endpoint.route.spool.close()
            await publisher.stop()
    except TimeoutError:
        log.warning(
            "the receiver did not stop within DRIP_SHUTDOWN_TIMEOUT_S=%g s (Kafka not answering); "
            "leaving without flushing the producer",
            timeout_s,
        )
