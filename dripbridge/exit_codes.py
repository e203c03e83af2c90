"""Exit codes of the operator commands that talk HTTP (``webhooks ...`` and ``send-test``).

Each failure mode has a code of its own so that scripts can react to it without parsing text:
a bad key needs a human, a 429 can simply be retried later, an unreachable host may be a
network blip. Codes 1 and 2 keep their usual meaning (unexpected failure, usage error).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit status of ``drip-bridge webhooks ...`` and ``drip-bridge send-test``."""

    OK = 0
    FAILED = 1
    USAGE = 2
    CONFIG = 3
    AUTH = 4
    NOT_FOUND = 5
    RATE_LIMITED = 6
    HTTP_ERROR = 7
    UNREACHABLE = 8


_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.USAGE: "bad arguments or invalid DRIP_* settings",
    ExitCode.CONFIG: "a needed setting is missing (the message names it)",
    ExitCode.AUTH: "the API key was refused (HTTP 401/403)",
    ExitCode.NOT_FOUND: "realm or webhook not found (HTTP 404)",
    ExitCode.RATE_LIMITED: "still rate-limited (HTTP 429) after the allowed retries",
    ExitCode.HTTP_ERROR: "an HTTP error answer (4xx/5xx) not covered above",
    ExitCode.UNREACHABLE: "no answer: network error, dropped connection or timeout",
}


def exit_codes_help(codes: Iterable[ExitCode] | None = None) -> str:
    """The table of ``codes`` (default: all) as a help epilog; ``\\b`` stops click re-wrapping."""
    chosen = set(_MEANINGS if codes is None else codes)
    lines = [f"  {int(code)}  {text}" for code, text in _MEANINGS.items() if code in chosen]
    return "\b\nExit codes:\n" + "\n".join(lines)
