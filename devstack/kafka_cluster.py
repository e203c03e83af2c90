"""A local Apache Kafka cluster of several KRaft nodes on 127.0.0.1, without Docker.

Each node is broker and controller in one JVM, run from the same jars as the single node
(:class:`~devstack.kafka.LocalKafka`). From the first bootstrap server's port P, node i
(1-based) has its broker on P + 2(i-1) and its controller on P + 2(i-1) + 1: with the default
P = 9092, brokers on 9092, 9094, 9096 and controllers on 9093, 9095, 9097. The first node so
takes the single node's two ports, and the two never run at once on one base port.

Everything stays under ``<local_dir>/kafka-cluster``: ``node-<i>/`` holds a node's
server.properties, data, pid file and log, apart from the single node's ``<local_dir>/kafka``.
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError, ServiceUnavailable
from core.settings import Settings
from devstack.kafka import (
    LocalKafka,
    brokers_named,
    kafka_answers,
    server_properties,
)
from devstack.process import Daemon, wait_for

MAX_NODES = 5
"""Most nodes of a local cluster. Every node is a controller, and a quorum of more than five
voters only slows elections down."""


def node_ports(base_port: int, nodes: int) -> list[tuple[int, int]]:
    """(broker port, controller port) of each node, node 1 first; see the module docstring."""
    if not 1 <= nodes <= MAX_NODES:
        raise ConfigError(f"a local Kafka cluster has 1 to {MAX_NODES} nodes, not {nodes}")
    if base_port + 2 * nodes - 1 > 65535:
        raise ConfigError(
            f"{nodes} nodes need ports {base_port}..{base_port + 2 * nodes - 1}: lower the port "
            "in DRIP_KAFKA_BOOTSTRAP_SERVERS"
        )
    return [(base_port + 2 * i, base_port + 2 * i + 1) for i in range(nodes)]


def bootstrap_servers(base_port: int, nodes: int) -> str:
    """Every broker of the cluster, for DRIP_KAFKA_BOOTSTRAP_SERVERS."""
    return ",".join(f"127.0.0.1:{broker}" for broker, _ in node_ports(base_port, nodes))


@dataclass(frozen=True)
class ClusterNode:
    """One node of the cluster: its id, ports and files."""

    node_id: int
    port: int
    controller_port: int
    home: Path

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def daemon(self) -> Daemon:
        return Daemon(
            f"kafka node {self.node_id}", self.home / "kafka.pid", self.home / "kafka.log"
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


class LocalKafkaCluster:
    """Configure, start and stop a local cluster of ``nodes`` KRaft nodes."""

    def __init__(self, settings: Settings, nodes: int, lib: Path | None = None) -> None:
        """``lib``: a jar directory to use instead of the single node's ``<local_dir>/kafka/lib``
        (a test's private cluster shares the installed jars this way)."""
        self.settings = settings
        self.single = LocalKafka(settings, lib=lib)
        self.home = settings.local_dir.resolve() / "kafka-cluster"
        self.nodes = [
            ClusterNode(i, broker, controller, self.home / f"node-{i}")
            for i, (broker, controller) in enumerate(node_ports(settings.kafka_port, nodes), 1)
        ]

    @classmethod
    def found(cls, settings: Settings, lib: Path | None = None) -> LocalKafkaCluster | None:
        """The cluster formatted under ``<local_dir>/kafka-cluster``, or None."""
        try:
            nodes = int((settings.local_dir.resolve() / "kafka-cluster" / "nodes").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return cls(settings, nodes, lib=lib)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.address for node in self.nodes)

    def _check_layout(self) -> None:
        """Refuse to reuse data formatted for another number of nodes (another voter set)."""
        marker = self.home / "nodes"
        if marker.exists() and marker.read_text().strip() != str(len(self.nodes)):
            raise ConfigError(
                f"the Kafka cluster under {self.home} has {marker.read_text().strip()} nodes, "
                f"not {len(self.nodes)}: start it with --brokers {marker.read_text().strip()}, "
                f"or stop it and delete {self.home} to make a new one"
            )
        if self.single.daemon.running():
            raise ConfigError(
                f"the single-node Kafka runs on port {self.single.port}, which the cluster's "
                "first node takes: stop it first (drip-bridge local stop --brokers 1)"
            )

    def _check_ports_free(self, nodes: list[ClusterNode]) -> None:
        for node in nodes:
            for port in (node.port, node.controller_port):
                if _listening(port):
                    raise ConfigError(
                        f"port {port} of Kafka node {node.node_id} is taken by another "
                        "process: choose another first port in DRIP_KAFKA_BOOTSTRAP_SERVERS "
                        f"(the cluster takes {len(self.nodes) * 2} ports from there)"
                    )

    def _format(self, nodes: list[ClusterNode]) -> None:
        """Format the nodes that have no data yet, all with the cluster's one id, in parallel."""
        id_file = self.home / "cluster.id"
        if not id_file.exists():
            id_file.write_text(str(uuid.uuid4()))
        cluster_id = id_file.read_text().strip()
        fresh = [node for node in nodes if not (node.data / "meta.properties").exists()]
        storage = self.single.java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c")
        formats = [
            subprocess.Popen(
                [*storage, str(node.config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            for node in fresh
        ]
        for node, process in zip(fresh, formats, strict=True):
            output, _ = process.communicate()
            if process.returncode != 0:
                raise ServiceUnavailable(
                    f"could not format Kafka node {node.node_id} under {node.data}:\n"
                    + output.decode("utf-8", "replace")[-2000:]
                )

    def start(self, timeout_s: float = 120.0) -> None:
        """Start every node that does not run, then wait until the cluster names all of them
        and coordinates consumer groups."""
        self._check_layout()
        stopped = [node for node in self.nodes if not node.daemon.running()]
        if stopped:
            self._check_ports_free(stopped)
            self.single.install()
            self.home.mkdir(parents=True, exist_ok=True)
            (self.home / "nodes").write_text(str(len(self.nodes)))
            voters = {node.node_id: node.controller_port for node in self.nodes}
            for node in stopped:
                node.home.mkdir(parents=True, exist_ok=True)
                node.config.write_text(
                    server_properties(node.node_id, node.port, voters, node.data)
                )
            self._format(stopped)
            for node in stopped:
                node.daemon.spawn(self.single.broker_command(node.config))
        self.wait(timeout_s)

    def ready(self) -> bool:
        """Every node is registered and the cluster coordinates consumer groups."""
        servers = self.bootstrap_servers
        return brokers_named(servers) == len(self.nodes) and kafka_answers(servers)

    def wait(self, timeout_s: float) -> None:
        """Block until :meth:`ready`, or raise ServiceUnavailable naming the nodes' logs."""
        if not wait_for(self.ready, timeout_s, interval_s=1.0):
            logs = ", ".join(str(node.daemon.log_path) for node in self.nodes)
            raise ServiceUnavailable(
                f"the Kafka cluster on {self.bootstrap_servers} did not name its "
                f"{len(self.nodes)} brokers within {timeout_s:.0f} s; see {logs}"
            )

    def stop(self) -> int:
        """Stop every running node at once; how many were running.

        All at once: a node stopping alone hands its partitions over, which needs a quorum of
        controllers, so stopping them one after the other would leave the last waiting for a
        quorum that is gone.
        """
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            return sum(pool.map(lambda node: node.daemon.stop(), self.nodes))

    def started(self) -> bool:
        """Whether `start` ran and `stop` did not since (a node may have died in between)."""
        return any(node.daemon.pid_path.exists() for node in self.nodes)

    def status(self) -> list[tuple[ClusterNode, bool]]:
        """Each node, and whether its process runs and its broker port accepts connections."""
        return [(node, node.daemon.running() and _listening(node.port)) for node in self.nodes]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0
