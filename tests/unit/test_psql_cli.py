"""`drip-bridge psql`: finding psql, keeping the password off its command line, and the error
when there is no psql. The command itself runs against PostgreSQL in
tests/integration/test_psql_cli.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dripbridge import psql_cli
from dripbridge.cli import app
from dripbridge.psql_cli import find_psql, split_password


@pytest.mark.parametrize(
    ("url", "without", "password"),
    [
        ("postgresql://drip:drip@127.0.0.1:5432/drip", "postgresql://drip@127.0.0.1:5432/drip",
         "drip"),
        ("postgresql://u:p%40ss%3Aw@h/db?sslmode=require", "postgresql://u@h/db?sslmode=require",
         "p@ss:w"),
        ("postgresql://u:@h/db", "postgresql://u@h/db", ""),
        ("postgresql://u@h:5433/db", "postgresql://u@h:5433/db", None),
        ("postgresql://h/db", "postgresql://h/db", None),
        ("postgresql://u:pw@[::1]:5432/db", "postgresql://u@[::1]:5432/db", "pw"),
    ],
)  # fmt: skip
def test_split_password(url: str, without: str, password: str | None) -> None:
    assert split_password(url) == (without, password)


def _fake_psql(directory: Path) -> Path:
    directory.mkdir(parents=True)
    psql = directory / "psql"
    psql.write_text("#!/bin/sh\n")
    psql.chmod(0o755)
    return psql


def test_psql_on_the_path_comes_first(tmp_path: Path, monkeypatch) -> None:
    on_path = _fake_psql(tmp_path / "bin")
    _fake_psql(tmp_path / "lib" / "16" / "bin")
    monkeypatch.setenv("PATH", str(on_path.parent))

    assert find_psql(str(tmp_path / "lib" / "*" / "bin" / "psql")) == str(on_path)


def test_else_the_newest_debian_psql(tmp_path: Path, monkeypatch) -> None:
    for version in ("9.6", "16", "13"):
        _fake_psql(tmp_path / version / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    assert find_psql(str(tmp_path / "*" / "bin" / "psql")) == str(tmp_path / "16" / "bin" / "psql")
    assert find_psql(str(tmp_path / "none" / "psql")) is None


def test_no_psql_is_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(psql_cli, "DEBIAN_PSQL_GLOB", str(tmp_path / "*" / "bin" / "psql"))

    result = CliRunner().invoke(app, ["psql", "-c", "SELECT 1"], env={"PATH": str(tmp_path)})

    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: psql not found on the PATH")
    assert "postgresql-client" in line
    assert os.environ["PATH"] != str(tmp_path)  # the runner restored the environment


def test_the_password_travels_in_the_environment(tmp_path: Path) -> None:
    psql = _fake_psql(tmp_path / "bin")
    psql.write_text('#!/bin/sh\nprintf "%s\\n" "$@" "PGPASSWORD=$PGPASSWORD"\nexit 3\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIP_", "PG"))}
    env |= {
        "PATH": f"{psql.parent}:{env['PATH']}",
        "DRIP_DATABASE_URL": "postgresql+psycopg://ada:s%3Acret@db.internal:5433/drip",
    }

    done = subprocess.run(
        [sys.executable, "-m", "dripbridge", "psql", "-x", "-c", "SELECT 1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 3  # psql's own status
    assert done.stdout.splitlines() == [
        "--dbname=postgresql://ada@db.internal:5433/drip",
        "-x",
        "-c",
        "SELECT 1",
        "PGPASSWORD=s:cret",
    ]
