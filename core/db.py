"""Database plumbing shared by every command: engines and migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine

from core.settings import Settings

_ROOT = Path(__file__).resolve().parents[1]


def alembic_config(settings: Settings) -> Config:
    """Alembic's config for this project, pointed at the settings' database."""
    config = Config(str(_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(_ROOT / "migrations"))
    config.attributes["database_url"] = settings.sync_database_url
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Apply the migrations up to ``revision``; the only way the schema changes."""
    command.upgrade(alembic_config(settings), revision)


def make_engine(settings: Settings, **kwargs: object) -> Engine:
    """A SQLAlchemy engine on psycopg 3 for the settings' database."""
    return create_engine(settings.sync_database_url, pool_pre_ping=True, **kwargs)  # type: ignore[arg-type]
