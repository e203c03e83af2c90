"""The settings of one command: built once from the environment, or one line per bad variable.

Every command calls :func:`load_settings` at its start and hands the settings down; nothing
else reads the environment.
"""

from __future__ import annotations

import typer
from pydantic import ValidationError

from core.exit_codes import ExitCode
from core.settings import Settings


def load_settings() -> Settings:
    """Build the settings from the environment, or exit 78 naming each invalid variable."""
    try:
        return Settings()
    except ValidationError as exc:
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else "settings"
            message = str(e["msg"]).removeprefix("Value error, ")
            typer.echo(f"error: DRIP_{field.upper()}: {message}", err=True)
        raise typer.Exit(ExitCode.CONFIG) from exc
