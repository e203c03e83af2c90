"""The exceptions of drip-bridge: one base class, one subclass per failure mode.

Messages are written for the operator: they say what went wrong and what to do about it.
"""

from __future__ import annotations

from core.exit_codes import ExitCode


class DripBridgeError(Exception):
    """Base class of every error drip-bridge raises on purpose.

    ``exit_code`` is the status the command line exits with when the error ends a command.
    """

    exit_code: int = ExitCode.FAILED


class ConfigError(DripBridgeError):
    """A setting is missing, invalid or refused; the message names the variable to fix.

    Fatal: retrying cannot help, so a process that meets one stops (exit code 78).
    """

    exit_code = ExitCode.CONFIG


class ServiceUnavailable(DripBridgeError):
    """Kafka or PostgreSQL did not answer in time."""


class PublishTimeout(ServiceUnavailable):
    """Kafka did not acknowledge a publish within the configured timeout."""


class UnusableEvent(DripBridgeError):
    """A verified event that a consumer group cannot use; it goes to ``dead_letters``."""


class ReplayRefused(DripBridgeError):
    """A replay cannot run now (for example, live processes of the group are running)."""


class DripApiError(DripBridgeError):
    """DRIP's management API answered with an error or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.exit_code = exit_code
