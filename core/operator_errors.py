"""What a failure means to the operator: a setting to fix, a service away, or a bug.

Libraries report the same few situations in many shapes (psycopg's OperationalError for a wrong
password and for a stopped server alike; SQLAlchemy wrapping it; a TaskGroup wrapping that).
These pure functions read an exception, its causes and its groups, and name the situation in
one line for the operator: a :class:`ConfigError` (fatal, exit code 78) when a setting is wrong,
a :class:`ServiceUnavailable` when a service did not answer, None when it is neither (a bug,
whose traceback is then worth showing).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from aiokafka.errors import KafkaConnectionError

from core.errors import ConfigError, DripBridgeError, ServiceUnavailable

_URL = "DRIP_DATABASE_URL"

# Fragments of PostgreSQL's FATAL messages at connection time that retrying cannot cure, and
# the fix to name. PostgreSQL sends no SQLSTATE before the session exists, so the text decides.
_DATABASE_REFUSALS: tuple[tuple[str, str], ...] = (
    ("password authentication failed", f"fix the user's password in {_URL}"),
    ("no password supplied", f"put the user's password in {_URL}"),
    ("peer authentication failed", f"give a user and password in {_URL}"),
    ("ident authentication failed", f"give a user and password in {_URL}"),
    ("no pg_hba.conf entry", f"allow this client in pg_hba.conf, or fix the host in {_URL}"),
    ("does not exist", f"create it, or fix the name in {_URL} (then run drip-bridge migrate)"),
    ("invalid dsn", f"fix {_URL} (postgresql://user:password@host:port/database)"),
    ("invalid connection option", f"fix {_URL} (postgresql://user:password@host:port/database)"),
)


def database_refusal(exc: BaseException) -> ConfigError | None:
    """The ConfigError a failed PostgreSQL connection stands for; None if retrying may help."""
    if not isinstance(exc, psycopg.OperationalError):
        return None
    problem = _problem(str(exc))
    lowered = problem.lower()
    for fragment, fix in _DATABASE_REFUSALS:
        if fragment in lowered:
            return ConfigError(f"PostgreSQL refused the connection ({problem}): {fix}")
    return None


def service_away(exc: BaseException) -> ServiceUnavailable | None:
    """The ServiceUnavailable a failed connection to PostgreSQL or Kafka stands for, or None."""
    if isinstance(exc, psycopg.OperationalError):
        return ServiceUnavailable(
            f"PostgreSQL did not answer ({_problem(str(exc))}): start it (drip-bridge local "
            f"start), or fix the host and port in {_URL}"
        )
    if isinstance(exc, KafkaConnectionError):
        return ServiceUnavailable(
            f"Kafka did not answer ({exc}): start it (drip-bridge local start), or fix "
            "DRIP_KAFKA_BOOTSTRAP_SERVERS"
        )
    return None


def explain(exc: BaseException) -> DripBridgeError | None:
    """The operator's error behind ``exc``: a setting first, then any error of ours, then a
    service away; None when nothing in it is the operator's to fix (a bug)."""
    found = list(_causes(exc))
    for each in found:
        if isinstance(each, ConfigError):
            return each
        refusal = database_refusal(each)
        if refusal is not None:
            return refusal
    for each in found:
        if isinstance(each, DripBridgeError):
            return each
    for each in found:
        away = service_away(each)
        if away is not None:
            return away
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the members of its groups, and their causes and contexts, each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        each = todo.pop(0)
        if id(each) in seen:
            continue
        seen.add(id(each))
        yield each
        if isinstance(each, BaseExceptionGroup):
            todo.extend(each.exceptions)
        todo.extend(e for e in (each.__cause__, each.__context__) if e is not None)


def _problem(message: str) -> str:
    """The first line of a libpq message, without psycopg's "connection failed:" lead-in."""
    line = message.strip().splitlines()[0] if message.strip() else "no message"
    line = line.removeprefix("connection failed: ")
    # 'connection to server at "127.0.0.1", port 5432 failed: FATAL:  password ...'
    where, sep, what = line.partition(" failed: ")
    if sep:
        what = what.removeprefix("FATAL:").strip()
        return f"{what}; {where.removeprefix('connection to server ')}"
    return line
