"""The local Kafka's ports and server.properties, for one node and for a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from devstack.kafka import server_properties
from devstack.kafka_cluster import MAX_NODES, bootstrap_servers, node_ports


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


@pytest.mark.parametrize(
    ("base", "nodes", "expected"),
    [
        (9092, 1, [(9092, 9093)]),
        (9092, 3, [(9092, 9093), (9094, 9095), (9096, 9097)]),
        (40000, 2, [(40000, 40001), (40002, 40003)]),
    ],
)
def test_node_ports(base: int, nodes: int, expected: list[tuple[int, int]]) -> None:
    ports = node_ports(base, nodes)
    assert ports == expected
    every = [port for pair in ports for port in pair]
    assert len(set(every)) == len(every)


def test_bootstrap_servers_list_every_broker() -> None:
    assert bootstrap_servers(9092, 3) == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"


@pytest.mark.parametrize(
    ("base", "nodes", "says"),
    [(9092, 0, "1 to"), (9092, MAX_NODES + 1, "1 to"), (65532, 3, "DRIP_KAFKA_BOOTSTRAP_SERVERS")],
)
def test_impossible_layouts_are_refused(base: int, nodes: int, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        node_ports(base, nodes)


@pytest.mark.parametrize(
    ("nodes", "replicas", "in_sync"),
    [(1, "1", "1"), (2, "2", "1"), (3, "3", "2"), (5, "3", "2")],
)
def test_internal_topics_follow_the_node_count(nodes: int, replicas: str, in_sync: str) -> None:
    voters = {i + 1: controller for i, (_, controller) in enumerate(node_ports(9092, nodes))}
    props = _properties(server_properties(1, 9092, voters, Path("/data")))
    assert props["offsets.topic.replication.factor"] == replicas
    assert props["transaction.state.log.replication.factor"] == replicas
    assert props["default.replication.factor"] == replicas
    assert props["transaction.state.log.min.isr"] == in_sync
    assert props["min.insync.replicas"] == in_sync


def test_a_cluster_node_listens_on_its_own_ports_and_knows_every_voter() -> None:
    voters = {1: 9093, 2: 9095, 3: 9097}
    props = _properties(server_properties(2, 9094, voters, Path("/c/node-2/data")))
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9094"
    assert props["log.dirs"] == "/c/node-2/data"
    assert props["auto.create.topics.enable"] == "false"
