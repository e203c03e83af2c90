"""Running the receiver under uvicorn (uvloop event loop, httptools parser, limits).

One process by default; with ``http_workers`` > 1, uvicorn's supervisor runs that many worker
processes on one listening socket, each building its own app (and so its own producer) from
the environment through :func:`worker_app`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import cast

import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from bridge.accesslog import plain_lines
from bridge.app import create_app
from bridge.protocol import LimitedProtocol
from core import logs
from core.memory import settle_gc
from core.settings import Settings


def uvicorn_config(app: ASGIApp | str, settings: Settings) -> uvicorn.Config:
    """The server settings of the receiver; the benchmark serves its baseline with these too.

    ``app`` is an app, or with ``http_workers`` > 1 the import string of a factory building
    one in each worker.
    """
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        workers=settings.http_workers,
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        # httptools, plus the limits uvicorn lacks (bridge.protocol): header and body timeouts,
        # and the connection cap in place of limit_concurrency, with Retry-After on its 503.
        http=cast(
            "type[asyncio.Protocol]",
            functools.partial(
                LimitedProtocol,
                header_timeout_s=settings.header_timeout_s,
                body_timeout_s=settings.body_timeout_s,
                max_connections=settings.max_connections,
                retry_after_s=settings.retry_after_s,
            ),
        ),
        timeout_keep_alive=settings.keep_alive_timeout_s,
        lifespan="on",
        # One structured line per request comes from bridge.access; uvicorn's would double it.
        access_log=False,
        # Logging is configured by the entry point (the CLI); uvicorn must not replace it.
        log_config=None,
        server_header=False,
        # Nothing reads the client address, so skip the X-Forwarded-For rewrite per request.
        proxy_headers=False,
        backlog=2048,
    )


def lean_logging() -> None:
    """Skip the per-record lookups no receiver log format uses (caller, thread).

    The receiver logs many lines; these lookups cost more than a line (see the logging HOWTO,
    "Optimization"). The process id stays: the log format shows it.
    """
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]


def run(settings: Settings, build: Callable[[], ASGIApp], worker_factory: str) -> bool:
    """Serve ``build()`` in this process, or ``worker_factory`` in each of ``http_workers``.

    Returns False when start-up failed: with workers, uvicorn's supervisor stops all of them
    when one fails to start (its app, or Kafka, would fail the same way on each restart), and
    restarts only workers that die after start-up.
    """
    if settings.http_workers == 1:
        server = uvicorn.Server(uvicorn_config(build(), settings))
        settle_gc()
        server.run()
        return server.started
    config = uvicorn_config(worker_factory, settings)
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    return all(worker.exitcode != STARTUP_FAILURE for worker in supervisor.processes)


class OperatorErrorLines(logging.Filter):
    """Turns a start-up traceback that ends in one of our errors into that error's line.

    Starlette hands uvicorn a failed lifespan start-up as traceback text, which uvicorn logs
    as is: Kafka away at start-up would print 27 lines around the one that says what to do.
    Tracebacks ending in anything else (a bug) are kept whole.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.msg if isinstance(record.msg, str) else ""
        if text.startswith("Traceback (most recent call last)"):
            last = text.rstrip().splitlines()[-1]
            kind, sep, message = last.partition(": ")
            if sep and kind.startswith("core.errors."):
                record.msg, record.args = "start-up failed: %s", (message,)
        return True


def _receiver_logging() -> None:
    lean_logging()

    plain_lines()
    logging.getLogger("uvicorn.error").addFilter(OperatorErrorLines())


def worker_app() -> ASGIApp:
    """The receiver of one worker process, from the settings in the environment.

    A worker is a fresh interpreter (spawned), so it sets up the logging the CLI set up in
    the supervisor, then builds its own app and producer.
    """

    settings = Settings()
    logs.configure()
    _receiver_logging()
    app = create_app(settings)
    settle_gc()
    return app


def serve(settings: Settings, restarts: int = 0) -> None:
    """Serve the receiver on ``http_host:http_port`` until stopped.

    Refuses to start (ConfigError naming DRIP_WEBHOOK_SECRETS) when no webhook secret is
    configured: an unverified receiver would publish anything anyone posts.
    """
    settings.require_webhook_secrets()

    _receiver_logging()
    if not run(settings, lambda: create_app(settings, restarts), "bridge.server:worker_app"):
        # uvicorn logs why start-up failed (Kafka unreachable, port taken) and returns.
        raise SystemExit(3)
