"""Which failures are a setting to fix, a service away, or neither."""

from __future__ import annotations

import psycopg
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from core.errors import ConfigError, ReplayRefused, ServiceUnavailable
from core.exit_codes import ExitCode
from core.operator_errors import explain

AT = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  '


def _chained(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("exc", "kind", "fragments"),
    [
        (
            psycopg.OperationalError(AT + 'password authentication failed for user "drip"'),
            ConfigError,
            ['password authentication failed for user "drip"', "DRIP_DATABASE_URL"],
        ),
        (
            psycopg.OperationalError(AT + 'database "nodb" does not exist'),
            ConfigError,
            ['database "nodb" does not exist', "create it", "DRIP_DATABASE_URL"],
        ),
        (
            psycopg.OperationalError(AT + 'role "ghost" does not exist'),
            ConfigError,
            ['role "ghost" does not exist'],
        ),
        (
            psycopg.OperationalError(AT + "no pg_hba.conf entry for host"),
            ConfigError,
            ["pg_hba.conf"],
        ),
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "127.0.0.1", port 5999 failed: '
                "Connection refused\n\tIs the server running on that host?"
            ),
            ServiceUnavailable,
            ["did not answer (Connection refused", "port 5999", "DRIP_DATABASE_URL"],
        ),
        (
            KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9999)]"),
            ServiceUnavailable,
            ["Kafka did not answer", "DRIP_KAFKA_BOOTSTRAP_SERVERS"],
        ),
        # wrapped: by SQLAlchemy (cause), by our own error, in a TaskGroup's group
        (
            _chained(
                RuntimeError("(psycopg.OperationalError) ..."),
                psycopg.OperationalError(AT + "password authentication failed for user"),
            ),
            ConfigError,
            ["password authentication failed"],
        ),
        (
            _chained(
                ServiceUnavailable("PostgreSQL did not answer; is it running?"),
                psycopg.OperationalError(AT + "password authentication failed for user"),
            ),
            ConfigError,
            ["password authentication failed"],
        ),
        (
            BaseExceptionGroup("groups", [ConfigError("set DRIP_X"), RuntimeError("cancelled")]),
            ConfigError,
            ["set DRIP_X"],
        ),
        (ReplayRefused("stop the group first"), ReplayRefused, ["stop the group first"]),
    ],
)
def test_explain(exc: BaseException, kind: type[Exception], fragments: list[str]) -> None:
    found = explain(exc)
    assert type(found) is kind
    for fragment in fragments:
        assert fragment in str(found)


@pytest.mark.parametrize(
    "exc",
    [ValueError("a bug"), KafkaTimeoutError(), psycopg.errors.UndefinedColumn("no such column")],
)
def test_bugs_are_not_explained(exc: BaseException) -> None:
    assert explain(exc) is None


def test_configuration_errors_exit_78() -> None:
    assert ConfigError("x").exit_code == ExitCode.CONFIG == 78
