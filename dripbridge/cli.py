"""The ``drip-bridge`` command line: the one entry point that builds the settings.

Each command builds :class:`Settings` once and hands it down. Commands import their machinery
lazily so that ``drip-bridge --help`` stays fast and a missing service only hurts the command
that needs it.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from dripbridge import logs
from dripbridge.asyncapi_cli import asyncapi_command
from dripbridge.consumers_cli import consumers_command
from dripbridge.errors import DripBridgeError
from dripbridge.replay_cli import EPILOG as REPLAY_EPILOG
from dripbridge.replay_cli import replay_command
from dripbridge.send_test import EPILOG as SEND_TEST_EPILOG
from dripbridge.send_test import send_test_command
from dripbridge.settings import Settings
from dripbridge.webhooks_cli import webhooks_app

app = typer.Typer(
    help="Verified DRIP webhooks into Kafka, and consumer groups that keep PostgreSQL exact.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
local_app = typer.Typer(help="Kafka and PostgreSQL on this machine, without Docker.")
topics_app = typer.Typer(help="The Kafka topics of the event contract.")
app.add_typer(local_app, name="local")
app.add_typer(topics_app, name="topics")
app.add_typer(webhooks_app, name="webhooks")
app.command("send-test", epilog=SEND_TEST_EPILOG)(send_test_command)
app.command("consumers")(consumers_command)
app.command("replay", epilog=REPLAY_EPILOG)(replay_command)
app.command("asyncapi")(asyncapi_command)


def load_settings() -> Settings:
    """Build the settings from the environment, or exit with the validation errors."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        ]
        typer.echo(
            "invalid settings (DRIP_* environment variables):\n" + "\n".join(lines), err=True
        )
        raise typer.Exit(2) from exc


def _logging(level: str = "INFO") -> None:
    logs.configure(level)


@app.command()
def serve() -> None:
    """Run the webhook receiver (POST /webhooks/drip)."""
    from bridge.server import serve as run_server

    _logging()
    run_server(load_settings())


@app.command()
def consume(
    groups: Annotated[list[str] | None, typer.Argument(help="Group names; default: all.")] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            "-p",
            min=1,
            help="Processes of the groups, splitting their partitions; "
            "default DRIP_CONSUMER_PROCESSES.",
        ),
    ] = None,
) -> None:
    """Run consumer groups (all registered groups when none is named)."""
    from consumers import registry

    settings = load_settings()
    names = groups or []
    for name in names:
        registry.get(name)  # an unknown name fails here with the list of known groups
    count = processes or settings.consumer_processes
    if count > 1:
        from dripbridge.supervise import dripbridge_command, supervise

        argv = dripbridge_command("consume", "--processes", "1", *names)
        commands = {f"consume-{n}": argv for n in range(1, count + 1)}
        banner = f"{count} processes of {', '.join(names) or 'every group'}"
        raise typer.Exit(supervise(commands, banner))
    from consumers.runner import run_groups

    _logging()
    run_groups(settings, names)


@app.command()
def stack(
    groups: Annotated[list[str] | None, typer.Argument(help="Group names; default: all.")] = None,
) -> None:
    """Run the receiver and every consumer group (one process each) in the foreground."""
    from consumers import registry
    from dripbridge.stack import run_stack

    names = groups or registry.names()
    for name in names:
        registry.get(name)  # an unknown name fails here with the list of known groups
    raise typer.Exit(run_stack(load_settings(), names))


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply the Alembic migrations to the database in DRIP_DATABASE_URL."""
    from dripbridge.db import migrate as run_migrations

    _logging()
    run_migrations(load_settings(), revision)
    typer.echo(f"database migrated to {revision}")


@topics_app.command("create")
def topics_create() -> None:
    """Create every missing topic with the configured partitions, retention and replication."""
    import asyncio

    from bridge.topics import ensure_topics

    settings = load_settings()
    created = asyncio.run(ensure_topics(settings))
    typer.echo(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))


@local_app.command("start")
def local_start(
    only: Annotated[str | None, typer.Option(help="kafka or postgres; default: both.")] = None,
) -> None:
    """Install if needed and start Kafka (KRaft) and PostgreSQL; waits until both answer."""
    from dripbridge.local.kafka import LocalKafka
    from dripbridge.local.postgres import LocalPostgres

    settings = load_settings()
    if only in (None, "postgres"):
        LocalPostgres(settings).start()
        typer.echo(f"postgres ready on port {settings.postgres_port}")
    if only in (None, "kafka"):
        LocalKafka(settings).start()
        typer.echo(f"kafka ready on {settings.kafka_bootstrap_servers}")


@local_app.command("stop")
def local_stop(
    only: Annotated[str | None, typer.Option(help="kafka or postgres; default: both.")] = None,
) -> None:
    """Stop the local Kafka and PostgreSQL started by `local start`."""
    from dripbridge.local.kafka import LocalKafka
    from dripbridge.local.postgres import LocalPostgres

    settings = load_settings()
    if only in (None, "kafka"):
        typer.echo("kafka stopped" if LocalKafka(settings).stop() else "kafka was not running")
    if only in (None, "postgres"):
        stopped = LocalPostgres(settings).stop()
        typer.echo("postgres stopped" if stopped else "postgres was not running (or not ours)")


@local_app.command("status")
def local_status() -> None:
    """Say whether Kafka and PostgreSQL answer at the configured addresses."""
    from dripbridge.local.kafka import kafka_answers
    from dripbridge.local.postgres import postgres_answers

    settings = load_settings()
    kafka = kafka_answers(settings.kafka_bootstrap_servers)
    pg = postgres_answers(settings.libpq_url)
    typer.echo(f"kafka    {'up' if kafka else 'down'}  {settings.kafka_bootstrap_servers}")
    typer.echo(f"postgres {'up' if pg else 'down'}  port {settings.postgres_port}")
    if not (kafka and pg):
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point: operator errors become one clear line and exit code 1."""
    try:
        app()
    except DripBridgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
