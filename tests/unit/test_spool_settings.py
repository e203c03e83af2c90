"""Spool settings: where the files go, when the spool is off, and a bound too small to use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.spool import Spool
from core.settings import Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DRIP_"):
            monkeypatch.delenv(name)


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    ("values", "directory"),
    [
        ({}, Path(".local/spool")),
        ({"local_dir": "/srv/drip"}, Path("/srv/drip/spool")),
        ({"local_dir": "/srv/drip", "spool_dir": "/var/spool/drip"}, Path("/var/spool/drip")),
    ],
)
def test_spool_directory(values: dict[str, object], directory: Path) -> None:
    assert _settings(**values).spool_directory == directory


@pytest.mark.parametrize(
    ("values", "active"),
    [
        ({}, True),
        ({"spool_enabled": False}, False),
        ({"spool_max_bytes": 0}, False),
        ({"spool_max_bytes": 2 * 1024**2}, True),
    ],
)
def test_spool_active(values: dict[str, object], active: bool) -> None:
    assert _settings(**values).spool_active is active


def test_spool_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIP_SPOOL_ENABLED", "false")
    monkeypatch.setenv("DRIP_SPOOL_MAX_BYTES", "5000000")
    monkeypatch.setenv("DRIP_SPOOL_DIR", "/tmp/elsewhere")
    settings = _settings()
    assert (settings.spool_enabled, settings.spool_max_bytes) == (False, 5_000_000)
    assert settings.spool_directory == Path("/tmp/elsewhere")


@pytest.mark.parametrize("max_bytes", [1, 1024 * 1024])
def test_a_bound_smaller_than_one_record_is_refused(max_bytes: int) -> None:
    with pytest.raises(ValidationError, match=r"DRIP_SPOOL_MAX_BYTES=.*raise it, or set it to 0"):
        _settings(spool_max_bytes=max_bytes)


async def test_spool_from_settings(tmp_path: Path) -> None:
    assert await Spool.from_settings(_settings(spool_enabled=False)) is None
    spool = await Spool.from_settings(_settings(local_dir=tmp_path))
    assert spool is not None
    assert spool.path.parent == tmp_path / "spool"
    assert spool.max_bytes == 1024**3
    await spool.close()
