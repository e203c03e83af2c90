"""Waiting in tests: on a condition, with a time limit, never on a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import psycopg


def wait(check: Callable[[], object], timeout_s: float, what: str) -> None:
    """Return once ``check()`` is truthy; AssertionError naming ``what`` after ``timeout_s``.

    A service that does not answer yet (an HTTP or PostgreSQL error) counts as not yet.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, psycopg.Error):
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def until(check: Callable[[], object], timeout_s: float) -> bool:
    """True once ``check()`` is truthy, False after ``timeout_s``: for asserts that add their
    own message (a process's log, say)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False
