"""The publisher's key partitioner places keys exactly as aiokafka's default one does."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from bridge.publisher import KeyPartitioner


@pytest.mark.parametrize("partitions", [1, 3, 6, 12])
def test_key_partitioner_matches_default(partitions: int) -> None:
    ours, default = KeyPartitioner(), DefaultPartitioner()
    every = list(range(partitions))
    for n in range(500):
        key = f"member-{n}".encode()
        assert ours(key, every, every) == default(key, every, every)
        assert ours(key, every, every) == default(key, every, every)  # remembered hash
    assert ours(None, every, every) in every
