"""``drip-bridge psql``: PostgreSQL's ``psql`` on the database in DRIP_DATABASE_URL.

The URL's SQLAlchemy form (``postgresql+psycopg://``) becomes a plain libpq one; the password
travels in ``PGPASSWORD`` rather than on the command line, where ``ps`` would show it. Debian
keeps the server's ``psql`` in ``/usr/lib/postgresql/<version>/bin``, off the PATH, so that is
searched too (the newest version first).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from typing import Annotated
from urllib.parse import unquote, urlsplit, urlunsplit

import typer

from dripbridge.config import load_settings

DEBIAN_PSQL_GLOB = "/usr/lib/postgresql/*/bin/psql"
"""Where Debian's PostgreSQL packages put ``psql``, besides the PATH."""

CONTEXT_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}
"""psql's own options (``-c``, ``-x``, ...) pass through instead of being refused."""


def find_psql(debian_glob: str | None = None) -> str | None:
    """``psql`` on the PATH, else the newest one under ``debian_glob``, else None."""
    on_path = shutil.which("psql")
    if on_path is not None:
        return on_path
    pattern = DEBIAN_PSQL_GLOB if debian_glob is None else debian_glob
    found = [p for p in glob.glob(pattern) if os.access(p, os.X_OK)]
    return max(found, key=_version_key, default=None)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


def split_password(url: str) -> tuple[str, str | None]:
    """A libpq URL without its password, and the password (decoded), if it had one."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not at or not colon:
        return url, None
    return urlunsplit(parts._replace(netloc=f"{user}@{hostport}")), unquote(password)


def psql_command(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PSQL_ARGS",
            help="Passed to psql as they are, e.g. -c 'SELECT 1' or -f report.sql.",
        ),
    ] = None,
) -> None:
    """Open psql on the database in DRIP_DATABASE_URL (any psql arguments follow).

    Example: drip-bridge psql -c 'SELECT * FROM leaderboard LIMIT 10'
    """

    settings = load_settings()
    psql = find_psql()
    if psql is None:
        typer.echo(
            "error: psql not found on the PATH nor in "
            f"{os.path.dirname(DEBIAN_PSQL_GLOB)}: install PostgreSQL's client "
            "(Debian: apt-get install postgresql-client), or connect any PostgreSQL client "
            "to DRIP_DATABASE_URL",
            err=True,
        )
        raise typer.Exit(1)
    url, password = split_password(settings.libpq_url)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    # psql replaces this process: its exit status, signals and terminal are the operator's.
    os.execve(psql, [psql, f"--dbname={url}", *(args or [])], env)
