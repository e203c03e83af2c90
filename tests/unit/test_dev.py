"""`./dev`'s ensure_env_file, run alone in a temporary directory: `./dev up` gives the receiver a
webhook secret whether .env is missing or lacks one, and keeps everything else in .env."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from dotenv import dotenv_values

from core.settings import Settings

DEV = Path(__file__).resolve().parents[2] / "dev"
OTHER = "# my settings\nDRIP_HTTP_PORT=8080\nPOSTGRES_PUBLISHED_PORT=5433\n"
FRESH = "added a new webhook secret to .env"


def _ensure_env_file(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = (
        'set -euo pipefail; source <(sed -n "/^ensure_env_file() {/,/^}/p" "$1"); ensure_env_file'
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("DRIP_")}
    return subprocess.run(
        ["bash", "-c", script, "bash", str(DEV)],
        cwd=cwd, env=base | env, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip


def _secrets(env_file: Path) -> list[str]:
    """The secrets as the settings read them from ``env_file`` (the environment aside)."""
    value = dotenv_values(env_file).get("DRIP_WEBHOOK_SECRETS") or ""
    return [s.get_secret_value() for s in Settings(webhook_secrets=value).webhook_secrets]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "kept"),
    [
        (None, ""),
        (OTHER, OTHER),
        (OTHER.rstrip("\n"), OTHER),  # no newline at the end
        ("DRIP_WEBHOOK_SECRETS=\n" + OTHER, OTHER),
        (OTHER + "DRIP_WEBHOOK_SECRETS=''\n", OTHER),
        ("export DRIP_WEBHOOK_SECRETS=  \n", ""),
    ],
)
def test_a_secret_is_added(tmp_path: Path, before: str | None, kept: str) -> None:
    env_file = tmp_path / ".env"
    if before is not None:
        env_file.write_text(before)
        env_file.chmod(0o644)
    inode = env_file.stat().st_ino if before is not None else None

    done = _ensure_env_file(tmp_path)

    assert FRESH in done.stderr
    text = env_file.read_text()
    assert text.startswith(kept)
    added = text[len(kept) :]
    assert added.startswith("DRIP_WEBHOOK_SECRETS=") and added.count("\n") == 1
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert inode in (None, env_file.stat().st_ino)
    (secret,) = _secrets(env_file)
    assert len(secret) >= 43 and added == f"DRIP_WEBHOOK_SECRETS={secret}\n"


@pytest.mark.parametrize(
    "before",
    [
        "DRIP_WEBHOOK_SECRETS=already-there-123\n" + OTHER,
        OTHER + "export DRIP_WEBHOOK_SECRETS=new-one-456,old-one-789\n",
        OTHER + 'DRIP_WEBHOOK_SECRETS="quoted-secret-1"\n',
    ],
)
def test_an_existing_secret_is_left_alone(tmp_path: Path, before: str) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(before)
    env_file.chmod(0o640)

    done = _ensure_env_file(tmp_path)

    assert FRESH not in done.stderr
    assert env_file.read_text() == before
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640


def test_a_secret_in_the_environment_needs_no_env_file(tmp_path: Path) -> None:
    done = _ensure_env_file(tmp_path, DRIP_WEBHOOK_SECRETS="from-the-environment")

    assert FRESH not in done.stderr
    assert not (tmp_path / ".env").exists()
