"""docker-compose.yml agrees with the code: commands, settings, ports, versions.

No Docker engine runs where these tests run, so the compose file is checked as data against the
CLI, the settings and the group registry instead of being started.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from typer.core import TyperCommand, TyperGroup

from consumers import registry
from core.settings import Settings
from dripbridge.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
BUILT = {name: svc for name, svc in SERVICES.items() if "build" in svc}


def _resolved(value: object) -> str:
    """A compose value with ${VAR:-default} replaced by its default, ${VAR:?msg} by a stand-in."""
    text = str(value)
    text = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)
    return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "compose-placeholder-secret", text)


def _env(service: str) -> dict[str, str]:
    return {k: _resolved(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def _leaf(args: list[str]) -> tuple[TyperCommand | TyperGroup, list[str]]:
    """The command that ``drip-bridge ARGS`` runs, and the arguments left for it.

    Typer ships its own copy of click, so its commands are not ``click.Group`` instances:
    the checks go through typer's own classes, or they would never descend into a command.
    """
    command: object = typer.main.get_command(app)
    while isinstance(command, TyperGroup) and args:
        _name, sub, args = command.resolve_command(command.context_class(command), args)
        assert isinstance(sub, TyperCommand | TyperGroup)
        command = sub
    assert isinstance(command, TyperCommand | TyperGroup)
    return command, args


def _check_command(command: list[str]) -> None:
    assert command[0] == "drip-bridge"
    leaf, rest = _leaf(list(command[1:]))
    assert not isinstance(leaf, TyperGroup), f"{command} names a command group, not a command"
    leaf.make_context(leaf.name or "", list(rest))  # raises UsageError on unknown arguments


@pytest.mark.parametrize("service", sorted(BUILT))
def test_every_command_is_a_real_cli_command(service: str) -> None:
    _check_command(SERVICES[service].get("command") or ["drip-bridge", "serve"])


@pytest.mark.parametrize(
    "command",
    [
        ["drip-bridge", "no-such-command"],
        ["drip-bridge", "consume", "leaderboard", "--no-such-option"],
        ["drip-bridge", "topics"],  # a group, not a command
        ["drip-bridge", "serve", "extra-argument"],
    ],
)
def test_the_command_check_refuses_what_the_cli_would(command: list[str]) -> None:
    with pytest.raises((AssertionError, typer.TyperException)):  # typer's click UsageError
        _check_command(command)


@pytest.mark.parametrize("service", sorted(BUILT))
def test_every_variable_is_a_real_setting(service: str) -> None:
    env = _env(service)
    fields = {f"DRIP_{name.upper()}": name for name in Settings.model_fields}
    unknown = sorted(set(env) - set(fields))
    assert not unknown, f"{service}: not settings: {unknown}"
    # The values must also pass the settings' validation.
    Settings(**{fields[k]: v for k, v in env.items()})  # type: ignore[arg-type]


def test_every_group_has_a_service_and_every_consumer_a_group() -> None:
    consumed = {
        svc["command"][2]
        for svc in BUILT.values()
        if svc.get("command", [])[:2] == ["drip-bridge", "consume"]
    }
    assert consumed == set(registry.names())
    for name, svc in BUILT.items():
        if svc.get("command", [])[:2] == ["drip-bridge", "consume"]:
            assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
            assert svc["depends_on"]["kafka"]["condition"] == "service_healthy", name


def test_ports_line_up() -> None:
    receiver = _env("receiver")
    port = receiver["DRIP_HTTP_PORT"]
    published = [_resolved(p) for p in SERVICES["receiver"]["ports"]]
    assert any(p.endswith(f":{port}") for p in published)
    assert f":{port}/" in " ".join(SERVICES["receiver"]["healthcheck"]["test"])

    kafka_env = SERVICES["kafka"]["environment"]
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].split("//", 1)[1]
    for service in BUILT:
        env = _env(service)
        if "DRIP_KAFKA_BOOTSTRAP_SERVERS" in env:
            assert env["DRIP_KAFKA_BOOTSTRAP_SERVERS"] == advertised, service
        if "DRIP_DATABASE_URL" in env:
            url = urlsplit(env["DRIP_DATABASE_URL"])
            assert url.hostname == "postgres" and url.port == 5432, service
            pg = {k: _resolved(v) for k, v in SERVICES["postgres"]["environment"].items()}
            assert (url.username, url.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
            assert url.path.lstrip("/") == pg["POSTGRES_DB"]


def test_depends_on_names_real_services() -> None:
    for name, svc in SERVICES.items():
        for target in svc.get("depends_on") or {}:
            assert target in SERVICES, f"{name} depends on unknown service {target}"
            condition = svc["depends_on"][target]["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{target} has no healthcheck"


def test_kafka_version_is_the_same_everywhere() -> None:
    image_tag = SERVICES["kafka"]["image"].split(":", 1)[1]
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = ET.parse(ROOT / "devstack" / "kafka_jars" / "pom.xml").getroot()
    pom_version = pom.find("m:properties/m:kafka.version", ns)
    assert pom_version is not None
    assert image_tag == pom_version.text == Settings.model_fields["kafka_version"].default


def test_each_group_runs_as_consumer_service_named_after_it() -> None:
    consumers = {name: svc for name, svc in SERVICES.items() if name.startswith("consumer-")}
    expected = {f"consumer-{group}" for group in registry.names()}
    assert set(consumers) == expected, "one service consumer-<group> per registered group"
    for name, svc in consumers.items():
        assert svc["command"] == ["drip-bridge", "consume", name.removeprefix("consumer-")], name


# --- the `cluster` profile: three KRaft nodes --------------------------------------------------

CLUSTER = {name: svc for name, svc in SERVICES.items() if "cluster" in svc.get("profiles", [])}
KAFKAS = {"kafka": SERVICES["kafka"], **CLUSTER}


def _listener_port(listeners: str, name: str) -> int:
    for listener in listeners.split(","):
        if listener.startswith(f"{name}://"):
            return int(listener.rsplit(":", 1)[1])
    raise AssertionError(f"no {name} listener in {listeners}")


def test_the_cluster_profile_has_three_nodes_of_the_same_kafka() -> None:
    assert sorted(CLUSTER) == ["kafka-1", "kafka-2", "kafka-3"]
    for name, svc in CLUSTER.items():
        assert svc["image"] == SERVICES["kafka"]["image"], name
        assert "healthcheck" in svc, name
    assert "profiles" not in SERVICES["kafka"]  # plain `docker compose up` is unchanged


def test_each_cluster_node_has_its_own_volume() -> None:
    volumes = [v.split(":", 1)[0] for svc in KAFKAS.values() for v in svc["volumes"]]
    assert len(set(volumes)) == len(volumes) == 4
    assert set(volumes) <= set(COMPOSE["volumes"])


def test_cluster_listeners_and_node_ids_do_not_collide() -> None:
    advertised = [svc["environment"]["KAFKA_ADVERTISED_LISTENERS"] for svc in KAFKAS.values()]
    assert len(set(advertised)) == len(advertised)
    for name, svc in CLUSTER.items():
        env = svc["environment"]
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert _listener_port(env["KAFKA_LISTENERS"], "PLAINTEXT") == 9092
        # Brokers and controllers on different ports within each node's own network address.
        assert _listener_port(env["KAFKA_LISTENERS"], "CONTROLLER") != 9092
        assert "ports" not in svc, f"{name} publishes a host port another node would want"
    assert sorted(svc["environment"]["KAFKA_NODE_ID"] for svc in CLUSTER.values()) == [1, 2, 3]


def test_the_quorum_voters_list_every_node_at_its_controller() -> None:
    for name, svc in CLUSTER.items():
        env = svc["environment"]
        voters = dict(v.split("@") for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
        expected = {
            str(other["environment"]["KAFKA_NODE_ID"]): (
                f"{node}:{_listener_port(other['environment']['KAFKA_LISTENERS'], 'CONTROLLER')}"
            )
            for node, other in CLUSTER.items()
        }
        assert voters == expected, name


def test_the_cluster_replicates_its_internal_topics_and_shares_one_id() -> None:
    ids = set()
    for name, svc in CLUSTER.items():
        env = svc["environment"]
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 3, name
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == 3, name
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == 2, name
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == 2, name
        ids.add(env["CLUSTER_ID"])
    [cluster_id] = ids
    # Kafka takes a UUID in URL-safe base64 without padding: 22 characters, 16 bytes.
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 and len(cluster_id) == 22


def test_the_app_services_can_point_at_the_cluster() -> None:
    cluster_servers = ",".join(
        svc["environment"]["KAFKA_ADVERTISED_LISTENERS"].split("//", 1)[1]
        for svc in CLUSTER.values()
    )
    fields = {f"DRIP_{name.upper()}": name for name in Settings.model_fields}
    for name, svc in BUILT.items():
        raw = (svc.get("environment") or {}).get("DRIP_KAFKA_BOOTSTRAP_SERVERS")
        if raw is None:
            continue
        assert raw == "${COMPOSE_KAFKA_BOOTSTRAP_SERVERS:-kafka:9092}", name
        env = _env(name) | {"DRIP_KAFKA_BOOTSTRAP_SERVERS": cluster_servers}
        settings = Settings(**{fields[k]: v for k, v in env.items()})  # type: ignore[arg-type]
        assert settings.kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
        assert settings.topic_replication_factor is None, f"{name}: replicas follow the cluster"
        if "kafka" not in svc.get("depends_on", {}):
            continue  # migrate: PostgreSQL only
        for node in CLUSTER:
            dependency = svc["depends_on"][node]
            assert dependency == {"condition": "service_healthy", "required": False}, name
