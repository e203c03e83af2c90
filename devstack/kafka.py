"""A single-node Apache Kafka (KRaft, broker and controller in one JVM) without Docker.

The jars come from Maven Central through ``devstack/kafka_jars/pom.xml``; the broker runs with
``java``.
Everything it writes stays under ``<local_dir>/kafka``. Starting twice leaves one broker running.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from core.errors import ConfigError, ServiceUnavailable
from core.settings import Settings
from devstack.process import Daemon, wait_for

_POM_DIR = Path(__file__).resolve().parent / "kafka_jars"
LOG_CONFIG = _POM_DIR / "log4j2.yaml"
# A group id no process joins: asking for its coordinator only checks that groups can work.
_PROBE_GROUP = "drip-bridge-readiness-probe"


class LocalKafka:
    """Install, configure, start and stop the local broker described by the settings."""

    def __init__(self, settings: Settings, lib: Path | None = None) -> None:
        """``lib``: a jar directory to use instead of ``<local_dir>/kafka/lib``.

        A second broker (a test's private one) can share the installed jars this way rather
        than resolve them again.
        """
        self.settings = settings
        self.home = settings.local_dir.resolve() / "kafka"
        self.lib = lib if lib is not None else self.home / "lib"
        self.data = self.home / "data"
        self.daemon = Daemon("kafka", self.home / "kafka.pid", self.home / "kafka.log")

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    def install(self) -> None:
        """Resolve the broker's jars with Maven, once per Kafka version."""
        marker = self.lib / f".kafka-{self.settings.kafka_version}"
        if marker.exists():
            return
        if shutil.which("mvn") is None or shutil.which("java") is None:
            raise ConfigError("java and mvn are needed to run Kafka without Docker")
        shutil.rmtree(self.lib, ignore_errors=True)
        self.lib.mkdir(parents=True)
        resolved = subprocess.run(
            [
                "mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(_POM_DIR / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.lib}",
                "-DincludeScope=runtime",
                f"-Dkafka.version={self.settings.kafka_version}",
            ],
            capture_output=True,
            check=False,
        )  # fmt: skip
        if resolved.returncode != 0:
            # Maven's output only matters when it failed; it says which artifact was missing.
            raise ConfigError(
                "could not resolve Kafka's jars with Maven:\n"
                + resolved.stdout.decode("utf-8", "replace")[-4000:]
            )
        marker.touch()

    def _write_config(self) -> Path:
        config = self.home / "server.properties"
        config.write_text(server_properties(1, self.port, {1: self.port + 1}, self.data))
        return config

    def java(self, main: str, *args: str, options: tuple[str, ...] = ()) -> list[str]:
        """The command running ``main`` from the installed jars, JVM ``options`` first."""
        return ["java", *options, "-cp", f"{self.lib}/*", main, *args]

    def broker_command(self, config: Path) -> list[str]:
        """The command running a broker with ``config`` and a heap of DRIP_KAFKA_HEAP."""
        heap = self.settings.kafka_heap
        jvm = (
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
        )
        return self.java("kafka.Kafka", str(config), options=jvm)

    def start(self, timeout_s: float = 90.0) -> None:
        """Start the broker unless it already runs (ours or another), then wait until it answers."""
        if self.daemon.running():
            self.wait(timeout_s)
            return
        if kafka_answers(self.settings.kafka_bootstrap_servers):
            return  # a broker someone else runs on this address: use it as it is
        self.install()
        self.home.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.data / "meta.properties").exists():
            subprocess.run(
                self.java(
                    "kafka.tools.StorageTool", "format", "-t", str(uuid.uuid4()), "-c", str(config)
                ),
                check=True,
                capture_output=True,
            )
        self.daemon.spawn(self.broker_command(config))
        self.wait(timeout_s)

    def wait(self, timeout_s: float) -> None:
        """Block until the broker serves metadata and consumer groups (:func:`kafka_answers`),
        or raise ServiceUnavailable."""
        if not wait_for(lambda: kafka_answers(self.settings.kafka_bootstrap_servers), timeout_s):
            raise ServiceUnavailable(
                f"Kafka did not answer on {self.settings.kafka_bootstrap_servers} within "
                f"{timeout_s:.0f} s; see {self.daemon.log_path}"
            )

    def stop(self) -> bool:
        """Stop the broker that `start` launched; True if one was running."""
        return self.daemon.stop()


def server_properties(node_id: int, port: int, voters: dict[int, int], data: Path) -> str:
    """The server.properties of node ``node_id`` of a local KRaft cluster on 127.0.0.1.

    Every node is broker and controller: its broker listens on ``port``, its controller on
    ``voters[node_id]``; ``voters`` maps each node id to its controller port. Kafka's internal
    topics (consumer offsets, transaction state) and the default topic get min(3, nodes)
    replicas and 2 in sync from three nodes on, as our topics do (``bridge/topics.py``).
    """
    replicas = min(3, len(voters))
    in_sync = 2 if replicas >= 3 else 1
    quorum = ",".join(f"{node}@127.0.0.1:{voters[node]}" for node in sorted(voters))
    lines = [
        "process.roles=broker,controller",
        f"node.id={node_id}",
        f"controller.quorum.voters={quorum}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{voters[node_id]}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data}",
        f"offsets.topic.replication.factor={replicas}",
        "offsets.topic.num.partitions=6",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={in_sync}",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={in_sync}",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "num.partitions=1",
    ]
    return "\n".join(lines) + "\n"


def kafka_answers(bootstrap_servers: str, timeout_s: float = 5.0) -> bool:
    """True when a broker at ``bootstrap_servers`` answers a metadata request and names a group
    coordinator.

    A broker just started serves metadata a second or so before it can coordinate consumer
    groups (it first creates ``__consumer_offsets``); consumer groups started in between log
    GroupCoordinatorNotAvailable errors until it can. Asking for a coordinator makes "answers"
    mean ready for the receiver and the groups alike.
    """

    async def probe(admin: AIOKafkaAdminClient) -> int:
        await asyncio.wait_for(admin.list_topics(), timeout_s)
        await asyncio.wait_for(admin.find_coordinator(_PROBE_GROUP), timeout_s)
        return 1

    return _probe(bootstrap_servers, timeout_s, probe) == 1


def brokers_named(bootstrap_servers: str, timeout_s: float = 5.0) -> int:
    """How many brokers the cluster at ``bootstrap_servers`` names in its metadata (alive and
    registered with the controllers); 0 when nothing answers."""

    async def probe(admin: AIOKafkaAdminClient) -> int:
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
        return len(cluster["brokers"])

    return _probe(bootstrap_servers, timeout_s, probe)


def _probe(
    bootstrap_servers: str,
    timeout_s: float,
    ask: Callable[[AIOKafkaAdminClient], Awaitable[int]],
) -> int:
    """Run ``ask`` with an admin client of ``bootstrap_servers``; 0 when anything fails."""

    async def run() -> int:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
        )
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
            return await ask(admin)
        except Exception:
            return 0
        finally:
            await admin.close()

    # A probe expects refusals while the broker boots; aiokafka would log each one as an error.
    # Quiet for the probe only: the caller's own Kafka clients keep their logging.
    aiokafka_log = logging.getLogger("aiokafka")
    level = aiokafka_log.level
    aiokafka_log.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(run())
    finally:
        aiokafka_log.setLevel(level)
