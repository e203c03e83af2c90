"""The real receiver for tests: its app under uvicorn in a thread, or ``drip-bridge serve`` as a
process of its own (one that can be killed, or that runs worker processes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
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


@contextmanager
def serve_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``drip-bridge serve`` with ``env``, run in ``log``'s directory, its output appended to
    ``log``; interrupted when the block ends (killed if it has not stopped after 30 s)."""
    cli = Path(sys.executable).with_name("drip-bridge")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(cli), "serve"], cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def ready(port: int) -> bool:
    """True when a receiver on ``port`` answers /readyz with 200."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
