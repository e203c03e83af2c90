"""What to log while a service is away: one line when it goes, a reminder now and then, one
line when it is back; and a filter that keeps a client library's repeated lines to a trickle.

Both are pure apart from the clock they are handed, so their tables test without services.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

REMIND_EVERY_S = 60.0
"""Seconds between reminders that a service is still away (and between repeats of a line)."""


class Absence:
    """The lines to log about one service (``what``) as attempts to reach it fail or succeed.

    :meth:`failed` returns a line the first time and then at most once per ``remind_every_s``;
    :meth:`succeeded` returns a line only when the service had been away. None: log nothing.
    """

    def __init__(
        self,
        what: str,
        remind_every_s: float = REMIND_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.remind_every_s = remind_every_s
        self._clock = clock
        self._since: float | None = None
        self._last_said = 0.0

    @property
    def away(self) -> bool:
        """True from the first failure until the next success."""
        return self._since is not None

    def failed(self, problem: object) -> str | None:
        now = self._clock()
        if self._since is None:
            self._since = self._last_said = now
            return f"{self.what} is away ({problem}); waiting for it"
        if now - self._last_said >= self.remind_every_s:
            self._last_said = now
            return f"{self.what} still away after {now - self._since:.0f} s ({problem})"
        return None

    def succeeded(self) -> str | None:
        if self._since is None:
            return None
        gone_for = self._clock() - self._since
        self._since = None
        return f"{self.what} is back after {gone_for:.0f} s"


class RepeatFilter(logging.Filter):
    """Lets a repeated line (same logger, same message template) through once per ``every_s``.

    For chatty client libraries: aiokafka logs an ERROR per connection attempt while a broker
    is down, hundreds a minute. The first line goes through; repeats inside the window are
    counted and the next line let through says how many were left out. Records of other
    loggers than those under ``prefix`` always pass.
    """

    def __init__(
        self,
        prefix: str,
        every_s: float = REMIND_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefix = prefix
        self.every_s = every_s
        self._clock = clock
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name != self.prefix and not name.startswith(self.prefix + "."):
            return True
        key = (name, record.msg)
        now = self._clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.every_s:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        left_out = last[1] if last is not None else 0
        self._seen[key] = (now, 0)
        if left_out:
            record.msg = (
                f"{record.msg} [{left_out} like it left out in the last {self.every_s:.0f} s]"
            )
        # A traceback per connection attempt says nothing new: the message names the error.
        record.exc_info = None
        record.exc_text = None
        return True
