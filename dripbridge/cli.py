"""The ``drip-bridge`` command line: the one entry point that builds the settings.

Each command builds :class:`Settings` once and hands it down. Commands import their machinery
lazily so that ``drip-bridge --help`` stays fast and a missing service only hurts the command
that needs it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from bridge.server import serve as run_server
from consumers import registry
from consumers.engine.process import run_groups
from core import logs
from core.db import migrate as run_migrations
from core.operator_errors import explain
from core.topics import align_topics, ensure_topics
from devstack.kafka import LocalKafka, kafka_answers
from devstack.kafka_cluster import MAX_NODES, LocalKafkaCluster
from devstack.postgres import LocalPostgres, postgres_answers
from dripbridge.asyncapi_cli import asyncapi_command
from dripbridge.config import load_settings
from dripbridge.consumers_cli import consumers_command
from dripbridge.demo_cli import EPILOG as DEMO_EPILOG
from dripbridge.demo_cli import demo_command
from dripbridge.psql_cli import CONTEXT_SETTINGS as PSQL_CONTEXT
from dripbridge.psql_cli import psql_command
from dripbridge.replay_cli import EPILOG as REPLAY_EPILOG
from dripbridge.replay_cli import replay_command
from dripbridge.send_test import EPILOG as SEND_TEST_EPILOG
from dripbridge.send_test import send_test_command
from dripbridge.stack import (
    consume_plan,
    control_of,
    metrics_banner,
    metrics_ports,
    run_stack,
)
from dripbridge.supervise import GRACE_MARGIN_S, supervise
from dripbridge.trace_cli import EPILOG as TRACE_EPILOG
from dripbridge.trace_cli import trace_command
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
app.command("demo", epilog=DEMO_EPILOG)(demo_command)
app.command("consumers")(consumers_command)
app.command("replay", epilog=REPLAY_EPILOG)(replay_command)
app.command("psql", context_settings=PSQL_CONTEXT)(psql_command)
app.command("asyncapi")(asyncapi_command)
app.command("trace", epilog=TRACE_EPILOG)(trace_command)


def _logging(level: str = "INFO") -> None:
    logs.configure(level)


@app.command()
def serve(
    restarts: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            help="Restarts of this process so far (set by the stack's supervisor, for metrics).",
        ),
    ] = 0,
) -> None:
    """Run the webhook receiver (POST /webhooks/drip)."""

    _logging()
    run_server(load_settings(), restarts)


@app.command()
def consume(
    groups: Annotated[list[str] | None, typer.Argument(help="Group names; default: all.")] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            "-p",
            min=1,
            metavar="N",
            help="Processes of the groups, splitting their partitions; "
            "default DRIP_CONSUMER_PROCESSES.",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            metavar="PORT",
            help="Port of this process's /metrics (N processes: PORT, PORT+1, ...); "
            "default DRIP_METRICS_PORT.",
        ),
    ] = None,
    restarts: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            help="Restarts of this process so far (set by the stack's supervisor, for metrics).",
        ),
    ] = 0,
) -> None:
    """Run consumer groups (all registered groups when none is named)."""

    settings = load_settings()
    if metrics_port is not None:
        settings = settings.model_copy(update={"metrics_port": metrics_port})
    names = groups or []
    for name in names:
        registry.get(name)  # an unknown name fails here with the list of known groups
    count = processes or settings.consumer_processes
    if count > 1:
        commands = consume_plan(names, count, settings.metrics_port)
        banner = f"{count} processes of {', '.join(names) or 'every group'}"
        banner += metrics_banner(metrics_ports(list(commands), settings.metrics_port))
        grace_s = settings.shutdown_timeout_s + GRACE_MARGIN_S
        raise typer.Exit(supervise(commands, banner, grace_s))

    _logging()
    run_groups(settings, names, restarts)


@app.command()
def stack(
    groups: Annotated[
        list[str] | None,
        typer.Argument(help="Group names; default: all. Or: stop|start GROUP|receiver ..."),
    ] = None,
) -> None:
    """Run the receiver and every consumer group (one process each) in the foreground.

    `stack stop GROUP` and `stack start GROUP` stop or start one group (or `receiver`) of the
    stack running from the same directory, leaving the others alone.
    """

    if groups and groups[0] in ("stop", "start"):
        action, targets = groups[0], groups[1:]
        if not targets:
            raise typer.BadParameter(f"name the groups to {action} (or receiver)")
        for target in targets:
            if target != "receiver":
                registry.get(target)
        control = control_of(load_settings())
        for target in targets:
            control.request(target, action)
        typer.echo(
            f"asked the stack (pid {control.supervisor_pid()}) to {action}: " + ", ".join(targets)
        )
        return
    names = groups or registry.names()
    for name in names:
        registry.get(name)  # an unknown name fails here with the list of known groups
    raise typer.Exit(run_stack(load_settings(), names))


@app.command()
def migrate(
    revision: Annotated[
        str,
        typer.Option(
            metavar="REVISION",
            help="Alembic revision to reach (0008_streak_day_ranges, or head for the newest).",
        ),
    ] = "head",
) -> None:
    """Apply the Alembic migrations to the database in DRIP_DATABASE_URL."""

    _logging()
    run_migrations(load_settings(), revision)
    typer.echo(f"database migrated to {revision}")


@topics_app.command("create")
def topics_create() -> None:
    """Create every missing topic, then bring existing topics' configs in line.

    Retention, min.insync.replicas and max.message.bytes follow the settings; each change is
    printed. Topics with fewer replicas than wanted are named (configs cannot add replicas).
    """

    settings = load_settings()
    created = asyncio.run(ensure_topics(settings))
    typer.echo(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    changes, shortfalls = asyncio.run(align_topics(settings))
    typer.echo(f"changed {len(changes)} config(s)" + (":" if changes else ""))
    for change in changes:
        typer.echo(f"  {change}")
    for shortfall in shortfalls:
        typer.echo(f"warning: {shortfall}", err=True)


_BROKERS_HELP = (
    "Kafka nodes: 1 runs the single node, more a KRaft cluster with brokers on the port of "
    "DRIP_KAFKA_BOOTSTRAP_SERVERS and every second port after it (README: Local services)."
)


@local_app.command("start")
def local_start(
    only: Annotated[
        str | None,
        typer.Option(metavar="kafka|postgres", help="One service only; default: both."),
    ] = None,
    brokers: Annotated[
        int, typer.Option(min=1, max=MAX_NODES, metavar="N", help=_BROKERS_HELP)
    ] = 1,
) -> None:
    """Install if needed and start Kafka (KRaft) and PostgreSQL; waits until both answer."""

    settings = load_settings()
    if only in (None, "postgres"):
        LocalPostgres(settings).start()
        typer.echo(f"postgres ready on port {settings.postgres_port}")
    if only in (None, "kafka") and brokers == 1:
        LocalKafka(settings).start()
        typer.echo(f"kafka ready on {settings.kafka_bootstrap_servers}")
    elif only in (None, "kafka"):
        cluster = LocalKafkaCluster(settings, brokers)
        cluster.start()
        typer.echo(f"kafka cluster of {brokers} nodes ready on {cluster.bootstrap_servers}")
        if settings.kafka_bootstrap_servers != cluster.bootstrap_servers:
            typer.echo(
                f"set DRIP_KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap_servers} so that clients "
                "start while any node is down"
            )


@local_app.command("stop")
def local_stop(
    only: Annotated[
        str | None,
        typer.Option(metavar="kafka|postgres", help="One service only; default: both."),
    ] = None,
    brokers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_NODES,
            metavar="N",
            help="1: the single node only; more: the cluster only; default: whichever runs.",
        ),
    ] = None,
) -> None:
    """Stop the local Kafka (single node and cluster) and PostgreSQL started by `local start`."""

    settings = load_settings()
    if only in (None, "kafka") and brokers in (None, 1):
        typer.echo("kafka stopped" if LocalKafka(settings).stop() else "kafka was not running")
    if only in (None, "kafka") and brokers != 1:
        cluster = LocalKafkaCluster.found(settings)
        stopped = cluster.stop() if cluster is not None else 0
        if stopped or brokers is not None:
            typer.echo(f"kafka cluster: {stopped} node(s) stopped")
    if only in (None, "postgres"):
        stopped = LocalPostgres(settings).stop()
        typer.echo("postgres stopped" if stopped else "postgres was not running (or not ours)")


@local_app.command("status")
def local_status() -> None:
    """Say whether Kafka and PostgreSQL answer at the configured addresses, and how each node
    of a local Kafka cluster fares."""

    settings = load_settings()
    kafka = kafka_answers(settings.kafka_bootstrap_servers)
    pg = postgres_answers(settings.libpq_url)
    typer.echo(f"kafka    {'up' if kafka else 'down'}  {settings.kafka_bootstrap_servers}")
    cluster = LocalKafkaCluster.found(settings)
    nodes_up = True
    if cluster is not None and cluster.started():
        for node, up in cluster.status():
            typer.echo(f"  node {node.node_id} {'up' if up else 'down'}  {node.address}")
            nodes_up = nodes_up and up
    typer.echo(f"postgres {'up' if pg else 'down'}  port {settings.postgres_port}")
    if not (kafka and pg and nodes_up):
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point: an operator's error becomes one line, without a traceback.

    A setting to fix (a refused password, a missing database) exits 78; a service that did
    not answer, or any other error of ours, exits with its own code. Anything else is a bug
    and keeps its traceback.
    """
    try:
        app()
    except Exception as exc:
        known = explain(exc)
        if known is None:
            raise
        typer.echo(f"error: {known}", err=True)
        sys.exit(known.exit_code)
