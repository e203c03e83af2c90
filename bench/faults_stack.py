"""The processes one fault scenario runs and breaks: a private Kafka (one node or three), a
private PostgreSQL, a ``drip-bridge serve`` receiver and a ``drip-bridge consume`` process.

Nothing here touches the shared broker or the shared PostgreSQL: every service listens on ports
of its own and keeps its files under the run's temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
from aiokafka.admin import AIOKafkaAdminClient
from psycopg import sql

from core import contract
from core.db import migrate
from core.settings import Settings
from devstack.kafka import LocalKafka
from devstack.kafka_cluster import LocalKafkaCluster
from devstack.postgres import LocalPostgres
from devstack.process import wait_for

KAFKA_HEAP = "384m"
"""Heap of each private broker: three of them must fit beside everything else on the machine."""

PARTITIONS = 3
"""Partitions of each scenario's topics."""

PUBLISH_TIMEOUT_S = 5.0
"""The receiver's DRIP_PUBLISH_TIMEOUT_S: after this, an event is spooled instead."""


def free_port_run(count: int) -> int:
    """A port p with p .. p+count-1 free on 127.0.0.1 (a broker's controller takes p+1)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + count - 1 > 65535:
            continue
        if all(_free(port + offset) for offset in range(1, count)):
            return port
    raise RuntimeError(f"no {count} free ports in a row on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PrivatePostgres:
    """A PostgreSQL cluster of the run alone, on a port of its own, that a scenario restarts."""

    def __init__(self, work: Path) -> None:
        home = work / "postgres-home"
        home.mkdir()
        # Run as root, PostgreSQL runs as the postgres user, which must reach its directory.
        for path in (work, home):
            path.chmod(0o755)
        port = free_port_run(1)
        self.settings = Settings(
            local_dir=home, database_url=f"postgresql+psycopg://drip:drip@127.0.0.1:{port}/drip"
        )
        self.server = LocalPostgres(self.settings)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def database(self, name: str) -> str:
        """A new database ``name``, built by the migrations; its SQLAlchemy URL."""
        with psycopg.connect(self.settings.libpq_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        head, _, _ = self.settings.sync_database_url.rpartition("/")
        url = f"{head}/{name}"
        migrate(self.settings.model_copy(update={"database_url": url}))
        return url


class Proc:
    """A ``drip-bridge`` process, its output appended to a log; restarted on demand."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log = cwd / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self.starts += 1

    def ensure(self) -> bool:
        """Start the process unless it runs; True if it had to be started."""
        if self.alive():
            return False
        self.start()
        return True

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """``kill -9``: no shutdown, no flush, whatever the process held in memory is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Stack:
    """One scenario's services and processes, under ``home``."""

    def __init__(
        self,
        home: Path,
        lib: Path,
        database_url: str,
        secret: str,
        brokers: int = 1,
        receiver_env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.secret = secret
        base = free_port_run(2 * brokers)
        servers = ",".join(f"127.0.0.1:{base + 2 * i}" for i in range(brokers))
        self.settings = Settings(
            local_dir=home,
            kafka_bootstrap_servers=servers,
            kafka_heap=KAFKA_HEAP,
            topic_prefix=f"faults-{uuid.uuid4().hex[:8]}",
            topic_partitions=PARTITIONS,
            database_url=database_url,
            spool_dir=home / "spool",
        )
        self.cluster = LocalKafkaCluster(self.settings, brokers, lib=lib) if brokers > 1 else None
        self.kafka = LocalKafka(self.settings, lib=lib)
        self.port = free_port_run(1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIP_")}
        env |= {
            "DRIP_LOCAL_DIR": str(home),
            "DRIP_KAFKA_BOOTSTRAP_SERVERS": servers,
            "DRIP_TOPIC_PREFIX": self.settings.topic_prefix,
            "DRIP_TOPIC_PARTITIONS": str(PARTITIONS),
            "DRIP_DATABASE_URL": database_url,
            "DRIP_WEBHOOK_SECRETS": secret,
            "DRIP_SPOOL_DIR": str(self.settings.spool_directory),
        }
        serve_env = env | {
            "DRIP_HTTP_PORT": str(self.port),
            "DRIP_PUBLISH_TIMEOUT_S": str(PUBLISH_TIMEOUT_S),
            **(receiver_env or {}),
        }
        cli = str(Path(sys.executable).with_name("drip-bridge"))
        self.receiver = Proc("receiver", [cli, "serve"], serve_env, home)
        self.consumer = Proc("consumer", [cli, "consume"], env, home)

    # --- Kafka --------------------------------------------------------------------------
    def start_kafka(self) -> None:
        if self.cluster is not None:
            self.cluster.start()
        else:
            self.kafka.start()

    def stop_kafka(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
        else:
            self.kafka.stop()

    async def kill_partition_leader(self, event_type: str, partition: int = 0) -> int:
        """``kill -9`` the node leading ``partition`` of ``event_type``'s topic; its node id."""
        assert self.cluster is not None, "a leader is killed in a cluster only"
        topic = contract.topic_for(self.settings.topic_prefix, event_type)
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            [described] = await admin.describe_topics([topic])
        finally:
            await admin.close()
        leader = next(p["leader"] for p in described["partitions"] if p["partition"] == partition)
        node = self.cluster.nodes[leader - 1]
        pid = node.daemon.pid()
        if pid is None:
            raise RuntimeError(f"Kafka node {leader} leads {topic}/{partition} but does not run")
        os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(wait_for, lambda: not node.daemon.running(), 10, 0.1)
        return int(leader)

    # --- the receiver and the consumers ---------------------------------------------------
    def receiver_ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/readyz"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_receiver(self, timeout_s: float = 60.0) -> None:
        """Start the receiver and wait until it answers (``/healthz``: with Kafka away it is
        alive and spooling, though not ready)."""
        self.receiver.start()

        def up() -> bool:
            if not self.receiver.alive():
                raise RuntimeError(f"the receiver exited; see {self.receiver.log}")
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_for(up, timeout_s, interval_s=0.2):
            raise RuntimeError(f"the receiver did not answer within {timeout_s:.0f} s")

    def stop_all(self) -> None:
        self.receiver.stop()
        self.consumer.stop()
        self.stop_kafka()
