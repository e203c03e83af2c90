"""The database: connections for the apps and tools, and the migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config

from core.operator_errors import database_refusal
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


async def connect(settings: Settings, application_name: str) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection to the settings' database, named in ``pg_stat_activity``.

    Each batch's statements are planned for that batch (``plan_cache_mode``): psycopg prepares
    a statement run five times, and PostgreSQL would then settle on a generic plan made while
    the tables were small (a new database, a replay's shadow tables), a sequential scan kept as
    they grow. Planning a batch's few statements costs under a millisecond.

    A refusal that retrying cannot cure (password, missing database) is a ConfigError naming
    DRIP_DATABASE_URL; any other OperationalError (the server is away) is raised as it is.
    """
    try:
        conn = await psycopg.AsyncConnection.connect(
            settings.libpq_url, autocommit=True, application_name=application_name
        )
    except psycopg.OperationalError as exc:
        refusal = database_refusal(exc)
        if refusal is not None:
            raise refusal from exc
        raise
    try:
        await conn.execute("SET plan_cache_mode = force_custom_plan")
    except BaseException:
        await conn.close()
        raise
    return conn
