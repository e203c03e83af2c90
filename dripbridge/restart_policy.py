"""When a supervised process that exited is started again: the pure part of supervision.

A process that crashed (a bug, a poison event, a service that went away) is restarted after
an exponential backoff, capped, so that one failing again at once is not restarted in a tight
loop; a process that had run for ``healthy_after_s`` before it exited starts again from the
first delay. A process that exits with :attr:`ExitCode.CONFIG` (78) is not restarted: it has
said which setting to fix, and running it again would only fail the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.exit_codes import ExitCode

FIRST_DELAY_S = 1.0
"""Delay before the first restart after a healthy run."""
MAX_DELAY_S = 60.0
"""Longest delay between restarts of a process that keeps failing."""
HEALTHY_AFTER_S = 60.0
"""A run at least this long counts as healthy: the next restart waits only the first delay."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about a process that exited: restart it after ``delay_s``, or leave it."""

    restart: bool
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Exponential backoff between restarts, capped and reset by a healthy run."""

    first_s: float = FIRST_DELAY_S
    max_s: float = MAX_DELAY_S
    healthy_after_s: float = HEALTHY_AFTER_S

    def after_exit(self, code: int, ran_s: float, previous_delay_s: float | None) -> Decision:
        """The decision for a process that exited with ``code`` after running ``ran_s``.

        ``previous_delay_s`` is the delay before its last restart (None if it never was).
        """
        if code == ExitCode.CONFIG:
            return Decision(restart=False)
        if previous_delay_s is None or ran_s >= self.healthy_after_s:
            return Decision(restart=True, delay_s=min(self.first_s, self.max_s))
        doubled = max(previous_delay_s, self.first_s) * 2
        return Decision(restart=True, delay_s=min(doubled, self.max_s))
