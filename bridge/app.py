"""The receiver's Starlette app: the webhook route, health, readiness and metrics.

Start-up (the lifespan) creates any missing contract topic, then starts the one shared
producer; the app serves only once both succeeded, and shutdown flushes the producer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.accesslog import AccessLog
from bridge.metrics import CONTENT_TYPE, Metrics
from bridge.publisher import Publisher
from bridge.webhook import WebhookEndpoint
from core.settings import Settings
from core.topics import ensure_topics

WEBHOOK_PATH = "/webhooks/drip"

# A readiness probe should answer well within a probe period even when Kafka hangs.
_READY_TIMEOUT_S = 2.0


def create_app(settings: Settings) -> Starlette:
    """The receiver for ``settings``; ConfigError at once when no webhook secret is set."""
    settings.require_webhook_secrets()
    publisher = Publisher(settings)
    metrics = Metrics()
    access_log = AccessLog()
    ready_timeout_s = min(_READY_TIMEOUT_S, settings.publish_timeout_s)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await ensure_topics(settings)
        await publisher.start()
        try:
            yield
        finally:
            await publisher.stop()
            access_log.flush()

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "up"})

    async def readyz(_: Request) -> Response:
        if await publisher.ready(ready_timeout_s):
            return JSONResponse({"status": "ready", "kafka": "reachable"})
        return JSONResponse(
            {"status": "not ready", "kafka": "unreachable"},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    async def metrics_page(_: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    app = Starlette(
        routes=[
            Route(
                WEBHOOK_PATH,
                WebhookEndpoint(settings, publisher, metrics, access_log),
                methods=["POST"],
            ),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_page, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.publisher = publisher
    app.state.metrics = metrics
    return app
