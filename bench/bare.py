"""The ceiling for the receiver benchmark: the same server stack answering 200 at once.

Same uvicorn settings as the receiver (``bridge.server.uvicorn_config``: uvloop, httptools),
the same routing (Starlette's ``Router`` as the whole app, as in ``bridge.app``) and the same
raw-ASGI style of endpoint, which reads the body and answers without verifying, decoding or
publishing; as many worker processes as the receiver (``DRIP_HTTP_WORKERS``). Run:
``python -m bench.bare``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from bridge.app import WEBHOOK_PATH
from bridge.server import run
from core.memory import settle_gc
from core.settings import Settings

_ANSWER = b'{"received":true}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"17")]


class BareEndpoint:
    """Reads the whole body, then answers 200."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _ANSWER})


async def _healthz(_: Request) -> Response:
    return JSONResponse({"status": "up"})


def create_bare_app() -> Router:
    """The bare app: the webhook path and a health check, nothing else."""
    return Router(
        routes=[
            Route(WEBHOOK_PATH, BareEndpoint(), methods=["POST"]),
            Route("/healthz", _healthz, methods=["GET"]),
        ]
    )


def worker_app() -> Router:
    """The bare app of one worker process; start-up objects frozen as the receiver's are."""
    app = create_bare_app()
    settle_gc()
    return app


if __name__ == "__main__":
    run(Settings(), create_bare_app, "bench.bare:worker_app")
