"""The receiver's access log: one JSON line per request, handed to logging in batches.

Building, formatting and writing a log record per request costs about as much as verifying
the request, so lines are collected and given to the ``bridge.access`` logger as one record
every ``flush_s``; each line is a complete JSON object with its own time. Never holds the
secret or the signature header: callers pass only the fields below.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import UTC, datetime

import orjson

LOGGER = logging.getLogger("bridge.access")


class AccessLog:
    """Collects access lines and flushes them at most ``flush_s`` after the first one."""

    def __init__(self, flush_s: float = 0.1) -> None:
        self._flush_s = flush_s
        self._lines: list[str] = []
        self._second = -1
        self._second_text = ""

    def request(
        self,
        method: str,
        path: str,
        status: int,
        latency_ms: float,
        event_type: str | None = None,
        event_id: str | None = None,
        topic: str | None = None,
        signature_form: str | None = None,
        error: str | None = None,
    ) -> None:
        """Queue the line of one answered request."""
        if not LOGGER.isEnabledFor(logging.INFO):
            return
        line = {
            "time": self._now(),
            "method": method,
            "path": path,
            "status": status,
            "event_type": event_type,
            "event_id": event_id,
            "topic": topic,
            "latency_ms": round(latency_ms, 3),
            "signature_form": signature_form,
            "error": error,
        }
        self._lines.append(orjson.dumps(line).decode())
        if len(self._lines) == 1:
            asyncio.get_running_loop().call_later(self._flush_s, self.flush)

    def _now(self) -> str:
        # What datetime.now(UTC).isoformat(timespec="milliseconds") writes, at a third of
        # the cost: the text up to the second changes once a second, so it is kept.
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).isoformat()[:-6]
        return f"{self._second_text}.{int((now - second) * 1000):03d}+00:00"

    def flush(self) -> None:
        """Hand the queued lines to the logger now."""
        if self._lines:
            lines, self._lines = self._lines, []
            LOGGER.info("\n".join(lines))


def plain_lines(stream: object = None) -> None:
    """Write ``bridge.access`` records as they are (JSON lines) to ``stream`` (stderr).

    The lines carry their own time; a prefix from the root format would sit on the first
    line of each batch only.
    """
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(message)s"))
    LOGGER.addHandler(handler)
    LOGGER.propagate = False
