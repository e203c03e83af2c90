"""Settings validation: webhook secrets, and the error an operator sees without one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.errors import ConfigError
from core.settings import Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("DRIP_"):
            monkeypatch.delenv(name)


def _settings(**values: object) -> Settings:
    # _env_file=None: a developer's .env must not leak into the table.
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("one-secret-123", [b"one-secret-123"]),
        ("new-secret-123,old-secret-456", [b"new-secret-123", b"old-secret-456"]),
        (" new-secret-123 , old-secret-456 ,", [b"new-secret-123", b"old-secret-456"]),
        (["listed-secret-1"], [b"listed-secret-1"]),
    ],
)
def test_secrets_split_by_comma(raw: object, expected: list[bytes]) -> None:
    assert _settings(webhook_secrets=raw).require_webhook_secrets() == expected


def test_secrets_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIP_WEBHOOK_SECRETS", "env-secret-one,env-secret-two")
    assert _settings().require_webhook_secrets() == [b"env-secret-one", b"env-secret-two"]


@pytest.mark.parametrize("raw", ["short", "long-enough-secret,short", "1234567"])
def test_short_secret_refused(raw: str) -> None:
    with pytest.raises(ValidationError, match="at least 8 characters"):
        _settings(webhook_secrets=raw)


@pytest.mark.parametrize("raw", ["", " , ", []])
def test_no_secret_is_a_config_error(raw: object) -> None:
    settings = _settings(webhook_secrets=raw)
    with pytest.raises(ConfigError, match="set DRIP_WEBHOOK_SECRETS"):
        settings.require_webhook_secrets()


def test_secret_hidden_in_repr() -> None:
    settings = _settings(webhook_secrets="very-secret-value")
    assert "very-secret-value" not in repr(settings)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_body_bytes", 0),
        ("publish_timeout_s", 0),
        ("retry_after_s", 0),
        ("http_port", 70000),
        ("http_workers", 0),
        ("topic_prefix", "bad prefix"),
        ("topic_prefix", "a..b"),
    ],
)
def test_receiver_settings_validated(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        _settings(**{field: value})


def test_receiver_defaults() -> None:
    settings = _settings()
    assert (settings.publish_timeout_s, settings.retry_after_s) == (10.0, 5)
    assert settings.max_body_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("streak_timezone", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("streak_timezone", "", "unknown time zone"),
        ("streak_timezone", "Not/AZone", "unknown time zone"),
        ("streak_timezone", "../etc/passwd", "unknown time zone"),
        ("database_url", "mysql://drip:drip@127.0.0.1/drip", "unsupported URL scheme mysql://"),
        ("database_url", "sqlite:///drip.db", "unsupported URL scheme sqlite://"),
        ("database_url", "host=127.0.0.1 password=secret", "not a URL"),
        ("shutdown_timeout_s", 0, "greater than 0"),
    ],
)
def test_refused_at_start(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _settings(**{field: value})
    assert message in str(caught.value)
    assert "secret" not in caught.value.errors()[0]["msg"]  # the URL's password is not echoed


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("streak_timezone", "Europe/Paris"),
        ("streak_timezone", "UTC"),
        ("database_url", "postgresql://drip:drip@127.0.0.1:5432/drip"),
        ("database_url", "postgres://drip:drip@db/drip"),
        ("database_url", "postgresql+psycopg://drip:drip@db:5433/drip"),
        ("shutdown_timeout_s", 2.5),
    ],
)
def test_accepted_at_start(field: str, value: object) -> None:
    assert getattr(_settings(**{field: value}), field) == value
