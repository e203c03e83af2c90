"""The real receiver app under uvicorn in a thread, on a free loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from bridge.app import WEBHOOK_PATH, create_app
from bridge.server import uvicorn_config
from core.settings import Settings
from tests.ports import free_port


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """Run the receiver with ``settings`` on a free port until the block ends; its webhook URL."""
    settings = settings.model_copy(update={"http_host": "127.0.0.1", "http_port": free_port()})
    server = uvicorn.Server(uvicorn_config(create_app(settings), settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the receiver did not start within 30 s"
    try:
        yield f"http://127.0.0.1:{settings.http_port}{WEBHOOK_PATH}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
