"""docker-compose.yml agrees with the code: commands, settings, ports, versions.

No Docker engine runs where these tests run, so the compose file is checked as data against the
CLI, the settings and the group registry instead of being started.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from typer.core import TyperCommand, TyperGroup

from bridge.metrics import Metrics
from consumers import registry
from consumers.engine.metrics import ConsumerMetrics
from core.settings import Settings
from dripbridge.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
IMAGE = "drip-bridge:local"
APP = {name: svc for name, svc in SERVICES.items() if svc.get("image") == IMAGE}
"""The services that run drip-bridge: all of them run the one image."""


def _resolved(value: object) -> str:
    """A compose value with ${VAR:-default} replaced by its default, ${VAR:?msg} by a stand-in."""
    text = str(value)
    text = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", text)
    return re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "compose-placeholder-secret", text)


def _env(service: str) -> dict[str, str]:
    return {k: _resolved(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def _listener(listeners: str, name: str) -> str:
    """The host:port of listener ``name`` in a Kafka listeners list (defaults resolved)."""
    for listener in _resolved(listeners).split(","):
        if listener.startswith(f"{name}://"):
            return listener.split("//", 1)[1]
    raise AssertionError(f"no {name} listener in {listeners}")


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


def _argv(service: dict[str, Any]) -> list[str]:
    """What a service runs: its entrypoint, then its command (the image runs a command alone)."""
    return [*service.get("entrypoint", []), *(service.get("command") or ["drip-bridge", "serve"])]


@pytest.mark.parametrize(
    "service", sorted(name for name, svc in APP.items() if "entrypoint" not in svc)
)
def test_every_command_is_a_real_cli_command(service: str) -> None:
    _check_command(_argv(SERVICES[service]))


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


@pytest.mark.parametrize("service", sorted(APP))
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
        for svc in APP.values()
        if svc.get("command", [])[:2] == ["drip-bridge", "consume"]
    }
    assert consumed == set(registry.names())
    for name, svc in APP.items():
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
    advertised = _listener(kafka_env["KAFKA_ADVERTISED_LISTENERS"], "PLAINTEXT")
    for service in APP:
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
    return int(_listener(listeners, name).rsplit(":", 1)[1])


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
        assert _listener(env["KAFKA_ADVERTISED_LISTENERS"], "PLAINTEXT") == f"{name}:9092"
        assert _listener_port(env["KAFKA_LISTENERS"], "PLAINTEXT") == 9092
        # Brokers and controllers on different ports within each node's own network address.
        assert _listener_port(env["KAFKA_LISTENERS"], "CONTROLLER") != 9092
    host_ports = [
        _listener_port(s["environment"]["KAFKA_ADVERTISED_LISTENERS"], "HOST")
        for s in KAFKAS.values()
    ]
    assert len(set(host_ports)) == len(host_ports), "each node needs a host port of its own"
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
        _listener(svc["environment"]["KAFKA_ADVERTISED_LISTENERS"], "PLAINTEXT")
        for svc in CLUSTER.values()
    )
    fields = {f"DRIP_{name.upper()}": name for name in Settings.model_fields}
    for name, svc in APP.items():
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


# --- one image, its build context, the settings that reach it ---------------------------------


def test_one_service_builds_the_image_every_drip_bridge_service_runs() -> None:
    builders = [name for name, svc in SERVICES.items() if "build" in svc]
    assert builders == ["migrate"], "one build: `up --build` must build the image once"
    assert SERVICES["migrate"]["image"] == IMAGE
    runs_drip_bridge = {
        name
        for name, svc in SERVICES.items()
        if "drip-bridge" in [*svc.get("entrypoint", []), *svc.get("command", [])]
    }
    assert runs_drip_bridge == set(APP), "a drip-bridge service with an image of its own"
    assert {"receiver", "migrate", "cli"} | {f"consumer-{g}" for g in registry.names()} == set(APP)


DOCKERIGNORE = [
    line.strip()
    for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]


def _ignored(path: str) -> bool:
    return any(
        fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/", 1)[0], pattern)
        for pattern in DOCKERIGNORE
    )


@pytest.mark.parametrize("path", [".venv", ".local", ".git", ".env", "tests", ".mypy_cache"])
def test_the_build_context_leaves_out(path: str) -> None:
    assert _ignored(path)


def test_the_build_context_keeps_what_the_dockerfile_copies() -> None:
    copied = [
        source
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    ]
    assert "pyproject.toml" in copied and "migrations" in copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not _ignored(source), f".dockerignore drops {source}, which the Dockerfile copies"


@pytest.mark.parametrize("service", sorted(APP))
def test_every_app_service_reads_the_env_file(service: str) -> None:
    assert SERVICES[service]["env_file"] == [{"path": ".env", "required": False}]


@pytest.mark.parametrize("service", sorted(APP))
def test_service_addresses_come_from_compose_not_from_env_file(service: str) -> None:
    # environment wins over env_file: a host .env's 127.0.0.1 addresses must be overridden.
    env = _env(service)
    servers = env["DRIP_KAFKA_BOOTSTRAP_SERVERS"].split(",")
    assert all(server.split(":")[0] in KAFKAS for server in servers), service
    assert urlsplit(env["DRIP_DATABASE_URL"]).hostname == "postgres", service
    assert env["DRIP_HTTP_HOST"] == "0.0.0.0", service
    assert env["DRIP_SPOOL_DIR"].startswith(env["DRIP_LOCAL_DIR"]), service


def test_the_receiver_keeps_its_spool_on_a_volume() -> None:
    receiver = SERVICES["receiver"]
    mounts = dict(v.split(":", 1) for v in receiver["volumes"])
    assert mounts["receiver-spool"] == _env("receiver")["DRIP_SPOOL_DIR"]
    assert "receiver-spool" in COMPOSE["volumes"]


# --- Kafka from the host ------------------------------------------------------------------------


@pytest.mark.parametrize("node", sorted(KAFKAS))
def test_each_kafka_node_has_a_host_listener_published_on_loopback(node: str) -> None:
    env = KAFKAS[node]["environment"]
    host_port = _listener_port(env["KAFKA_LISTENERS"], "HOST")
    advertised = _listener(env["KAFKA_ADVERTISED_LISTENERS"], "HOST")
    assert advertised.split(":")[0] == "127.0.0.1"
    assert "HOST:PLAINTEXT" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "PLAINTEXT"
    published = [_resolved(p) for p in KAFKAS[node]["ports"]]
    # Published where it is advertised, onto the HOST listener's port in the container.
    assert published == [f"{advertised}:{host_port}"], node


def test_the_host_reaches_the_single_node_with_the_default_settings() -> None:
    advertised = _listener(SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"], "HOST")
    assert advertised == Settings.model_fields["kafka_bootstrap_servers"].default
    postgres_port = [_resolved(p) for p in SERVICES["postgres"]["ports"]]
    assert postgres_port == [f"127.0.0.1:{Settings().postgres_port}:5432"]


# --- the `monitoring` profile -------------------------------------------------------------------

MONITORING = ROOT / "monitoring"
PROMETHEUS: dict[str, Any] = yaml.safe_load((MONITORING / "prometheus/prometheus.yml").read_text())
GRAFANA = MONITORING / "grafana"
DATASOURCES: list[dict[str, Any]] = yaml.safe_load(
    (GRAFANA / "provisioning/datasources/datasources.yml").read_text()
)["datasources"]
DASHBOARD: dict[str, Any] = json.loads((GRAFANA / "dashboards/drip-bridge.json").read_text())
PANELS: list[dict[str, Any]] = DASHBOARD["panels"]


def _mounts(service: str) -> dict[str, str]:
    """Host path (relative to the repository) -> container path, of a service's bind mounts."""
    binds = [v.split(":") for v in SERVICES[service]["volumes"] if v.startswith("./")]
    return {host.removeprefix("./"): container for host, container, *_ in binds}


def _targets() -> dict[str, int]:
    """Compose service -> port, of every Prometheus target."""
    found: dict[str, int] = {}
    for job in PROMETHEUS["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics", job["job_name"]
        for sd in job.get("dns_sd_configs", []):
            found |= dict.fromkeys(sd["names"], sd["port"])
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                found[host] = int(port)
    return found


def test_monitoring_services_run_only_in_their_profile() -> None:
    for name in ("prometheus", "grafana"):
        assert SERVICES[name]["profiles"] == ["monitoring"], name
    assert _mounts("prometheus") == {
        "monitoring/prometheus/prometheus.yml": "/etc/prometheus/prometheus.yml"
    }


def test_every_prometheus_target_is_a_service_serving_metrics_on_that_port() -> None:
    targets = _targets()
    for service, port in targets.items():
        assert service in APP, f"Prometheus scrapes {service}, which is no drip-bridge service"
        env = _env(service)
        served = env.get("DRIP_METRICS_PORT") or env.get("DRIP_HTTP_PORT")
        assert served is not None and int(served) == port, f"{service} serves no /metrics on {port}"
        assert Settings(metrics_port=int(env.get("DRIP_METRICS_PORT", 0)))  # a valid setting
    # Every long-running drip-bridge process is scraped: the receiver and each consumer group.
    running = {name for name, svc in APP.items() if svc.get("restart") == "unless-stopped"}
    assert set(targets) == running


def _code_metric_samples() -> set[str]:
    """Every sample name the receiver and the consumers expose, from their own registries."""
    receiver = Metrics()
    receiver.request(200, "member.points_awarded")
    receiver.signature_failure("mismatch")
    receiver.signature_form("raw")
    receiver.published(0.01)
    consumers = ConsumerMetrics()
    consumers.committed("g", events=1, dead=1, seconds=0.1)
    consumers.dead_letter_run.labels("g").set(1)
    consumers.retries.labels("g").inc()
    consumers.lag.labels("g").set(1)
    consumers.partition_lag.labels("g", "t", "0").set(1)
    names: set[str] = set()
    for registry_ in (receiver.registry, consumers.registry):
        for family in registry_.collect():
            assert family.samples, f"{family.name} has no sample: exercise it in this test"
            names |= {sample.name for sample in family.samples}
    return names


def _prometheus_exprs() -> list[str]:
    return [
        target["expr"]
        for panel in PANELS
        if panel["datasource"]["uid"] == "prometheus"
        for target in panel["targets"]
    ]


def test_every_dashboard_metric_exists_in_the_code() -> None:
    exposed = _code_metric_samples()
    used = {name for expr in _prometheus_exprs() for name in re.findall(r"\bdrip_\w+", expr)}
    assert used, "the dashboard queries no drip-bridge metric"
    assert used <= exposed, f"not exposed by the code: {sorted(used - exposed)}"
    # What the dashboard is for: ingest, publish latency, lag and dead letters.
    assert {
        "drip_webhook_requests_total",
        "drip_webhook_publish_seconds_bucket",
        "drip_consumer_lag_records",
        "drip_consumer_dead_letters_total",
        "drip_consumer_dead_letter_run",
    } <= used


def test_every_panel_uses_a_provisioned_datasource() -> None:
    provisioned = {source["uid"]: source["type"] for source in DATASOURCES}
    used = [panel["datasource"] for panel in PANELS]
    used += [target["datasource"] for panel in PANELS for target in panel["targets"]]
    used += [variable["datasource"] for variable in DASHBOARD["templating"]["list"]]
    for source in used:
        assert provisioned.get(source["uid"]) == source["type"], source
    assert {"prometheus", "grafana-postgresql-datasource"} == set(provisioned.values())
    ids = [panel["id"] for panel in PANELS]
    assert len(set(ids)) == len(ids)


def test_the_datasources_point_at_the_compose_services() -> None:
    by_type = {source["type"]: source for source in DATASOURCES}
    prometheus = urlsplit(by_type["prometheus"]["url"])
    assert prometheus.hostname == "prometheus" and prometheus.port == 9090
    assert SERVICES["prometheus"]["ports"] == ["127.0.0.1:${PROMETHEUS_PUBLISHED_PORT:-9090}:9090"]
    postgres = by_type["grafana-postgresql-datasource"]
    assert postgres["url"] == "postgres:5432"
    grafana_env = {k: _resolved(v) for k, v in SERVICES["grafana"]["environment"].items()}
    pg = {k: _resolved(v) for k, v in SERVICES["postgres"]["environment"].items()}
    credentials = {
        "POSTGRES_USER": postgres["user"],
        "POSTGRES_DB": postgres["jsonData"]["database"],
        "POSTGRES_PASSWORD": postgres["secureJsonData"]["password"],
    }
    for pg_name, reference in credentials.items():
        assert reference.startswith("$"), f"{pg_name} is not read from the environment"
        assert grafana_env[reference.lstrip("$")] == pg[pg_name]


def test_grafana_is_provisioned_from_the_mounted_folders() -> None:
    mounts = _mounts("grafana")
    assert mounts["monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/dashboards.yml").read_text())
    [provider] = providers["providers"]
    assert mounts["monitoring/grafana/dashboards"] == provider["options"]["path"]
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/drip-bridge.json"


def test_the_leaderboard_panel_reads_the_leaderboard() -> None:
    sql = [t["rawSql"] for p in PANELS for t in p["targets"] if "rawSql" in t]
    assert len(sql) == 1 and "leaderboard_top(" in sql[0] and ", 10)" in sql[0]


# --- one-off commands and ./dev ----------------------------------------------------------------

COMPOSE_DOC = (ROOT / "docs" / "compose.md").read_text()
CLI_RUNS = re.findall(r"^docker compose run --rm cli (.+)$", COMPOSE_DOC, flags=re.MULTILINE)


def test_the_cli_service_runs_drip_bridge_on_demand() -> None:
    cli = SERVICES["cli"]
    assert cli["entrypoint"] == ["drip-bridge"] and cli["profiles"] == ["tools"]
    assert len(CLI_RUNS) >= 4


@pytest.mark.parametrize("arguments", CLI_RUNS)
def test_every_documented_one_off_command_is_a_real_cli_command(arguments: str) -> None:
    _check_command(["drip-bridge", *shlex.split(arguments)])


def _fake_dev(tmp_path: Path, compose_containers: str) -> tuple[Path, dict[str, str]]:
    """A copy of ./dev whose docker, apt-get, dpkg, sudo and drip-bridge only record their calls.

    ``compose_containers`` is what ``docker compose ps`` prints. The copy's own .venv is a
    stand-in, so nothing here can reach the real local services.
    """
    shutil.copy(ROOT / "dev", tmp_path / "dev")
    calls = tmp_path / "calls"
    stubs = tmp_path / "stubs"
    venv_bin = tmp_path / ".venv" / "bin"
    stubs.mkdir()
    venv_bin.mkdir(parents=True)
    (tmp_path / ".venv" / ".installed").touch()
    recorder = f'#!/bin/sh\necho "$(basename "$0") $*" >> {calls}\n'
    docker = recorder + 'case "$*" in *" ps "*) printf "%s" "$COMPOSE_CONTAINERS" ;; esac\n'
    for name, body in {
        "apt-get": recorder,
        "dpkg": recorder,
        "sudo": recorder,
        "docker": docker,
    }.items():
        (stubs / name).write_text(body)
        (stubs / name).chmod(0o755)
    for name in ("python", "drip-bridge"):
        (venv_bin / name).write_text(recorder)
        (venv_bin / name).chmod(0o755)
    env = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "COMPOSE_CONTAINERS": compose_containers,
        "DRIP_WEBHOOK_SECRETS": "a-secret-of-this-test",
    }
    return calls, env


def _run_dev(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(tmp_path / "dev"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


ALL_PROFILES = "compose --profile cluster --profile monitoring --profile tools"


@pytest.mark.parametrize(
    ("containers", "args", "expected"),
    [
        ("0123abcd\n", (), f"docker {ALL_PROFILES} down"),
        ("0123abcd\n", ("-v",), f"docker {ALL_PROFILES} down -v"),
        ("", (), "drip-bridge local stop"),
        ("", ("--brokers", "3"), "drip-bridge local stop --brokers 3"),
    ],
)
def test_dev_down_stops_the_compose_stack_or_else_the_local_services(
    tmp_path: Path, containers: str, args: tuple[str, ...], expected: str
) -> None:
    calls, env = _fake_dev(tmp_path, containers)
    done = _run_dev(tmp_path, env, "down", *args)
    assert done.returncode == 0, done.stderr
    recorded = calls.read_text().splitlines()
    assert recorded[-1] == expected
    assert not any(line.split()[0] in ("apt-get", "dpkg", "sudo") for line in recorded)
    if containers:
        assert not any(line.startswith("drip-bridge") for line in recorded)


def test_dev_up_with_docker_installs_nothing(tmp_path: Path) -> None:
    calls, env = _fake_dev(tmp_path, "")
    done = _run_dev(tmp_path, env, "up", "-d")
    assert done.returncode == 0, done.stderr
    recorded = calls.read_text().splitlines()
    assert recorded == ["docker info", "docker compose up --build -d"]
