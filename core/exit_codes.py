"""Exit codes of drip-bridge's commands.

Each failure mode has a code of its own so that scripts can react to it without parsing text:
a bad key needs a human, a 429 can simply be retried later, an unreachable host may be a
network blip. Codes 1 and 2 keep their usual meaning (unexpected failure, usage error).

:attr:`ExitCode.CONFIG` is 78, ``EX_CONFIG`` of sysexits(3), and means the same thing from every
command: a setting is missing or wrong (including one a service refused, such as the password
in ``DRIP_DATABASE_URL``). Running the process again changes nothing until the setting is
fixed, so the supervisor of ``drip-bridge stack`` does not restart a process that exits 78.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit status of the ``drip-bridge`` commands."""

    OK = 0
    FAILED = 1
    USAGE = 2
    AUTH = 4
    NOT_FOUND = 5
    RATE_LIMITED = 6
    HTTP_ERROR = 7
    UNREACHABLE = 8
    CONFIG = 78


_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.USAGE: "bad arguments",
    ExitCode.AUTH: "the API key was refused (HTTP 401/403)",
    ExitCode.NOT_FOUND: "realm or webhook not found (HTTP 404)",
    ExitCode.RATE_LIMITED: "still rate-limited (HTTP 429) after the allowed retries",
    ExitCode.HTTP_ERROR: "an HTTP error answer (4xx/5xx) not covered above",
    ExitCode.UNREACHABLE: "no answer: network error, dropped connection or timeout",
    ExitCode.CONFIG: "a setting is missing, invalid or refused (the message names it)",
}


def exit_codes_help(codes: Iterable[ExitCode] | None = None) -> str:
    """The table of ``codes`` (default: all) as a help epilog; ``\\b`` stops click re-wrapping."""
    chosen = set(_MEANINGS if codes is None else codes)
    lines = [f"  {int(code)}  {text}" for code, text in _MEANINGS.items() if code in chosen]
    return "\b\nExit codes:\n" + "\n".join(lines)
