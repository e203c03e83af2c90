"""`drip-bridge serve` refuses to start without a webhook secret, and says what to set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.app import create_app
from bridge.server import serve
from core.errors import ConfigError
from core.settings import Settings


def test_cli_serve_without_secret_exits_with_hint(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIP_")}
    # An unused port: should the check ever be skipped, nothing else gets disturbed.
    env["DRIP_HTTP_PORT"] = "1"
    cli = Path(sys.executable).with_name("drip-bridge")
    result = subprocess.run(
        [str(cli), "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "no webhook secret configured" in result.stderr
    assert "DRIP_WEBHOOK_SECRETS" in result.stderr


@pytest.mark.parametrize("entry", [serve, create_app])
def test_entry_points_refuse_without_secret(entry: object) -> None:
    settings = Settings(_env_file=None, webhook_secrets=[])  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="DRIP_WEBHOOK_SECRETS"):
        entry(settings)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            'Traceback (most recent call last):\n  File "x.py", line 1\n'
            "core.errors.ServiceUnavailable: Kafka did not answer: start it\n",
            "start-up failed: Kafka did not answer: start it",
        ),
        (
            'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: a bug\n',
            'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: a bug\n',
        ),
        ("Application startup failed. Exiting.", "Application startup failed. Exiting."),
    ],
)
def test_startup_tracebacks_of_our_errors_become_one_line(message: str, expected: str) -> None:
    import logging

    from bridge.server import OperatorErrorLines

    record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, message, None, None)
    assert OperatorErrorLines().filter(record)
    assert record.getMessage() == expected
