"""A single-node Apache Kafka (KRaft, broker and controller in one JVM) without Docker.

The jars come from Maven Central through ``local/kafka/pom.xml``; the broker runs with ``java``.
Everything it writes stays under ``<local_dir>/kafka``. Starting twice leaves one broker running.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from dripbridge.errors import ConfigError, ServiceUnavailable
from dripbridge.local.process import Daemon, wait_for
from dripbridge.settings import Settings

_POM_DIR = Path(__file__).resolve().parents[2] / "local" / "kafka"
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
        controller = self.port + 1
        config = self.home / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{controller}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{controller}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "num.partitions=1",
                    "",
                ]
            )
        )
        return config

    def _java(self, main: str, *args: str) -> list[str]:
        return ["java", "-cp", f"{self.lib}/*", main, *args]

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
                self._java(
                    "kafka.tools.StorageTool", "format", "-t", str(uuid.uuid4()), "-c", str(config)
                ),
                check=True,
                capture_output=True,
            )
        heap = self.settings.kafka_heap
        self.daemon.spawn(
            [
                "java", f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={_POM_DIR / 'log4j2.yaml'}",
                "-cp", f"{self.lib}/*", "kafka.Kafka", str(config),
            ],
        )  # fmt: skip
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


def kafka_answers(bootstrap_servers: str, timeout_s: float = 5.0) -> bool:
    """True when a broker at ``bootstrap_servers`` answers a metadata request and names a group
    coordinator.

    A broker just started serves metadata a second or so before it can coordinate consumer
    groups (it first creates ``__consumer_offsets``); consumer groups started in between log
    GroupCoordinatorNotAvailable errors until it can. Asking for a coordinator makes "answers"
    mean ready for the receiver and the groups alike.
    """
    import asyncio
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
        )
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
            await asyncio.wait_for(admin.list_topics(), timeout_s)
            await asyncio.wait_for(admin.find_coordinator(_PROBE_GROUP), timeout_s)
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    # A probe expects refusals while the broker boots; aiokafka would log each one as an error.
    # Quiet for the probe only: the caller's own Kafka clients keep their logging.
    aiokafka_log = logging.getLogger("aiokafka")
    level = aiokafka_log.level
    aiokafka_log.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(probe())
    finally:
        aiokafka_log.setLevel(level)
