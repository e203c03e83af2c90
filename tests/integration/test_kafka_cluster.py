"""A local three-node Kafka cluster keeps acknowledged records, and takes new ones, when a node
dies: topics with three replicas and two in sync, the receiver's acks=all producer."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge.ingest import Record
from bridge.publisher import Publisher
from core.settings import Settings
from core.topics import align_topics, describe_topic_configs, ensure_topics
from devstack.kafka import LocalKafka, kafka_answers
from devstack.kafka_cluster import LocalKafkaCluster
from devstack.process import wait_for
from tests.ports import free_port_run
from tests.waiting import until

pytestmark = pytest.mark.integration


async def _layout(bootstrap_servers: str, topic: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Partition 0 of ``topic`` (leader, replicas, isr) and the topic's configs in effect."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        # A topic just created reaches each broker's metadata a moment after the controller.
        for _ in range(100):
            [described] = await admin.describe_topics([topic])
            if described["partitions"]:
                break
            await asyncio.sleep(0.1)
        entries = (await describe_topic_configs(admin, [topic]))[topic]
    finally:
        await admin.close()
    configs = {e["config_names"]: e["config_value"] for e in entries}
    return described["partitions"][0], configs


async def _read(bootstrap_servers: str, topic: str, count: int) -> list[bytes]:
    """The first ``count`` values of partition 0, read from the start; fewer after 30 s."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest")
    await consumer.start()
    values: list[bytes] = []
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        deadline = time.monotonic() + 30
        while len(values) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(partition, timeout_ms=1000)
            values.extend(record.value for record in batch.get(partition, []) if record.value)
    finally:
        await consumer.stop()
    return values


async def _publish(settings: Settings, topic: str, value: bytes) -> int:
    """Publish through the receiver's producer (acks=all, idempotent); the record's offset."""
    publisher = Publisher(settings)
    await publisher.start()
    try:
        record = Record(topic, b"member-1", value, [], value.decode(), "other")
        ack = await publisher.publish(record)
    finally:
        await publisher.stop()
    return ack.offset


def test_a_node_killed_loses_no_acknowledged_record_and_writes_go_on(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    started = time.monotonic()
    base = free_port_run(6)
    servers = ",".join(f"127.0.0.1:{base + 2 * i}" for i in range(3))
    settings = kafka_settings.model_copy(
        update={
            "local_dir": tmp_path,
            "kafka_bootstrap_servers": servers,
            "kafka_heap": "512m",
            "topic_prefix": "cluster-test",
            "topic_partitions": 1,
            "topic_replication_factor": None,  # follow the cluster: 3 replicas, 2 in sync
            "topic_min_insync_replicas": None,
            "publish_timeout_s": 40.0,  # a leader's death is noticed after ~9 s (session timeout)
        }
    )
    shared = LocalKafka(kafka_settings)
    shared.install()  # the jars only, resolved once per checkout; the shared broker is untouched
    cluster = LocalKafkaCluster(settings, 3, lib=shared.lib)
    assert cluster.bootstrap_servers == servers
    topic = "cluster-test.other"
    try:
        cluster.start()
        print(f"cluster ready after {time.monotonic() - started:.0f} s")
        assert asyncio.run(ensure_topics(settings, [topic])) == [topic]
        partition, configs = asyncio.run(_layout(servers, topic))
        assert sorted(partition["replicas"]) == [1, 2, 3]
        assert configs["min.insync.replicas"] == "2"
        assert configs["max.message.bytes"] == str(settings.max_record_bytes)
        assert asyncio.run(align_topics(settings, [topic])) == ([], [])
        # Kafka's own offsets topic is replicated like ours (server.properties of each node).
        offsets, offsets_configs = asyncio.run(_layout(servers, "__consumer_offsets"))
        assert len(offsets["replicas"]) == 3
        assert offsets_configs["min.insync.replicas"] == "2"

        assert asyncio.run(_publish(settings, topic, b"before")) == 0
        assert asyncio.run(_read(servers, topic, 1)) == [b"before"]

        leader = partition["leader"]
        victim = cluster.nodes[leader - 1]
        pid = victim.daemon.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: not victim.daemon.running(), 10, interval_s=0.1)

        assert asyncio.run(_publish(settings, topic, b"after")) == 1
        assert asyncio.run(_read(servers, topic, 2)) == [b"before", b"after"]

        def moved_on() -> bool:
            # Each broker learns the new leader from the controller a moment apart.
            partition, _ = asyncio.run(_layout(servers, topic))
            return partition["leader"] != leader and sorted(partition["isr"]) == sorted(
                set(partition["replicas"]) - {leader}
            )

        assert until(moved_on, 20), asyncio.run(_layout(servers, topic))
        assert sum(up for _, up in cluster.status()) == 2
    finally:
        cluster.stop()
    assert all(node.daemon.pid() is None for node in cluster.nodes)
    assert not kafka_answers(servers, timeout_s=2)
    print(f"three-node cluster test took {time.monotonic() - started:.0f} s")
