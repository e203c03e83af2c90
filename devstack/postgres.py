"""PostgreSQL from Debian's packages, without Docker.

If a server already answers at the database URL with its credentials, it is used as it is.
Otherwise a cluster is made under ``<local_dir>/postgres`` with the Debian binaries and started on
the URL's port; the URL's role and database are created in it. Starting twice leaves one server.
"""

from __future__ import annotations

import glob
import os
import pwd
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import psycopg.sql

from core.errors import ConfigError, ServiceUnavailable
from core.settings import Settings
from devstack.process import wait_for


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_major, reverse=True)
    if not found:
        raise ConfigError(
            "PostgreSQL is not installed: run `apt-get install -y postgresql` "
            "(./dev does this for you)"
        )
    return Path(found[0]).parent


def _major(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def postgres_answers(libpq_url: str, timeout_s: int = 3) -> bool:
    """True when the URL's server accepts the URL's credentials and database."""
    try:
        with psycopg.connect(libpq_url, connect_timeout=timeout_s) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


class LocalPostgres:
    """Make, start and stop the local cluster described by the settings' database URL."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = urlsplit(settings.libpq_url)
        self.port = url.port or 5432
        self.user = unquote(url.username or "drip")
        self.password = unquote(url.password or "")
        self.database = url.path.lstrip("/") or "drip"
        self.home = self._home(settings.local_dir.resolve() / "postgres")
        self.data = self.home / "data"
        self.socket_dir = self.home / "run"
        self.log_path = self.home / "postgres.log"

    def _home(self, wanted: Path) -> Path:
        # PostgreSQL will not run as root; as root we run it as the `postgres` user, which must
        # be able to reach its data directory. A checkout inside a private folder cannot offer
        # that, so the cluster then lives in a per-port folder under /var/tmp instead.
        wanted.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0 or _reachable_by_postgres(wanted.parent):
            return wanted
        return Path(f"/var/tmp/drip-bridge-postgres-{self.port}")

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def running(self) -> bool:
        """True when the local cluster's postmaster runs."""
        if not self.data.exists():
            return False
        status = subprocess.run(
            self._as_owner([str(_bin_dir() / "pg_ctl"), "status", "-D", str(self.data)]),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def start(self, timeout_s: float = 60.0) -> None:
        """Use a server that already answers, or make and start the local cluster."""
        if postgres_answers(self.settings.libpq_url):
            return
        bindir = _bin_dir()
        self.home.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (self.home, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            subprocess.run(
                self._as_owner(
                    [str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                     "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8"]
                ),
                check=True,
                capture_output=True,
            )  # fmt: skip
        if not self.running():
            options = (
                f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                "-c max_connections=200 -c fsync=on"
            )
            subprocess.run(
                self._as_owner(
                    [str(bindir / "pg_ctl"), "start", "-w", "-t", str(int(timeout_s)),
                     "-D", str(self.data), "-l", str(self.log_path), "-o", options]
                ),
                check=True,
                capture_output=True,
            )  # fmt: skip
        self._ensure_role_and_database()
        if not wait_for(lambda: postgres_answers(self.settings.libpq_url), timeout_s):
            raise ServiceUnavailable(
                f"PostgreSQL did not accept {self.user}@127.0.0.1:{self.port}/{self.database}; "
                f"see {self.log_path}"
            )

    def _superuser(self) -> psycopg.Connection:
        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", dbname="postgres",
            autocommit=True,
        )  # fmt: skip

    def _ensure_role_and_database(self) -> None:
        with self._superuser() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [self.user])
            verb = "ALTER" if exists.fetchone() else "CREATE"
            conn.execute(
                psycopg.sql.SQL("{} ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    psycopg.sql.SQL(verb),
                    psycopg.sql.Identifier(self.user),
                    psycopg.sql.Literal(self.password),
                )
            )
            # DROP DATABASE ... WITH (FORCE) must also end autovacuum workers, whose processes
            # belong to no role: only pg_signal_backend lets a non-superuser do that, and
            # without it the tests' and benchmarks' clean-up failed whenever autovacuum was busy
            # in the database being dropped.
            conn.execute(
                psycopg.sql.SQL("GRANT pg_signal_backend TO {}").format(
                    psycopg.sql.Identifier(self.user)
                )
            )
            has_db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database])
            if not has_db.fetchone():
                conn.execute(
                    psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        psycopg.sql.Identifier(self.database), psycopg.sql.Identifier(self.user)
                    )
                )

    def stop(self) -> bool:
        """Stop the local cluster (a server we did not start is left alone)."""
        if not self.data.exists() or not self.running():
            return False
        subprocess.run(
            self._as_owner(
                [str(_bin_dir() / "pg_ctl"), "stop", "-m", "fast", "-D", str(self.data)]
            ),
            check=True,
            capture_output=True,
        )
        return True


def _reachable_by_postgres(path: Path) -> bool:
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(path)],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0
