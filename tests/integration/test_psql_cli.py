"""`drip-bridge psql` on the real PostgreSQL: it reaches the configured database, passes psql's
own arguments through and exits with psql's status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings
from dripbridge.psql_cli import find_psql

pytestmark = pytest.mark.integration


def _psql(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if find_psql() is None:
        pytest.fail("psql is not installed here (PostgreSQL's client, /usr/lib/postgresql)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIP_", "PG"))}
    env["DRIP_DATABASE_URL"] = settings.database_url
    return subprocess.run(
        [sys.executable, "-m", "dripbridge", "psql", *args],
        cwd=cwd,  # no developer's .env
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_select_1(db_settings: Settings, tmp_path: Path) -> None:
    done = _psql(db_settings, tmp_path, "-c", "SELECT 1")

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["?column?", "----------", "1", "(1", "row)"]


def test_it_is_the_configured_database(db_settings: Settings, tmp_path: Path) -> None:
    done = _psql(
        db_settings, tmp_path, "-At", "-c",
        "SELECT current_database(), to_regclass('public.consumer_offsets') IS NOT NULL",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{db_settings.libpq_url.rsplit('/', 1)[1]}|t"


def test_psql_errors_are_its_own(db_settings: Settings, tmp_path: Path) -> None:
    done = _psql(db_settings, tmp_path, "-v", "ON_ERROR_STOP=1", "-c", "SELECT no_such_column")

    assert done.returncode != 0
    assert "no_such_column" in done.stderr
