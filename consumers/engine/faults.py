"""The line between bad data and faults: what a group dead-letters, retries, or crashes on.

An error while a group handles a record is one of three kinds, decided here and nowhere else:

- **Data**: a value of the event cannot be parsed or represented. The mapping raises
  :class:`core.errors.UnusableEvent` (or an event that is not JSON fails to decode), or
  PostgreSQL refuses a row for its values: SQLSTATE class 22 (data exception: out of range,
  bad encoding), 23 (integrity constraint) or 54 (program limit exceeded: a key too long for its
  index). The event becomes a dead letter of that group, with the error, in the same
  transaction that applies the rest of its batch. Retrying would fail the same way for ever.
- **Infrastructure**: a lost connection, a broker that does not answer, a serialization
  failure or deadlock, a server shutting down. The batch is dropped and read again after a
  backoff; nothing is skipped.
- **Anything else** is a bug. It is not caught: the process exits loudly and its supervisor
  restarts it with a backoff.
"""

from __future__ import annotations

import re

import psycopg
from aiokafka.errors import KafkaError

DATA_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
"""SQLSTATE classes that say a row's values, not the database's state, are at fault."""

TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, KafkaError, OSError, TimeoutError)
"""Errors after which a batch is dropped, the stored offsets read again and the work retried."""


def refused_for_data(exc: BaseException) -> bool:
    """True when PostgreSQL (or psycopg, before sending) refused a row for its values.

    Checked before :data:`TRANSIENT`: class 54 arrives as an ``OperationalError``.
    """
    if not isinstance(exc, psycopg.Error):
        return False
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return True  # psycopg raises these itself too, without a SQLSTATE (a NUL in text)
    return (exc.sqlstate or "")[:2] in DATA_SQLSTATE_CLASSES


def refusal(exc: psycopg.Error) -> str:
    """The dead-letter text of a row PostgreSQL refused: its SQLSTATE and message."""
    message = exc.diag.message_primary or str(exc)
    return f"PostgreSQL refused the event ({exc.sqlstate or 'client'}): {message}"


ALARM_RUN = 1000
"""Dead letters in a row, all with the same error, after which a group says so loudly."""

_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|-?\d[\d.:+\-TZ]*")


def error_kind(error: str) -> str:
    """``error`` with the values in it blanked: the same fault on other events reads the same."""
    return _VALUES.sub("…", error)[:200]


class DeadLetterRun:
    """Counts dead letters in a row that share one error kind, across batches.

    A long run is more likely a bug (a mapping or schema that refuses what DRIP now sends) than
    bad data: :meth:`observe` returns True each time the run crosses a multiple of ``alarm``.
    Batches are looked at whole: any applied event ends the run.
    """

    def __init__(self, alarm: int = ALARM_RUN) -> None:
        self.alarm = alarm
        self.length = 0
        self.kind: str | None = None

    def observe(self, applied: int, errors: list[str]) -> bool:
        """Account for one committed batch: ``applied`` events and its dead letters' errors."""
        before = self.length
        if applied:
            self.length, self.kind = 0, None
            return False
        for error in errors:
            kind = error_kind(error)
            if kind != self.kind:
                self.kind, self.length, before = kind, 0, 0
            self.length += 1
        return self.length // self.alarm > before // self.alarm
