"""The contract's Kafka topics: created with the configured layout, and kept in line with it.

A topic's layout is its partitions, its replication factor and the configs of
:func:`topic_configs`. The replication factor and ``min.insync.replicas`` follow the cluster
unless set: three replicas and two in sync from three brokers on, so one broker can fail
without losing an acknowledged record or refusing a write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    KafkaError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    for_code,
)

from core import contract
from core.errors import ConfigError, ServiceUnavailable
from core.settings import Settings

DEFAULT_REPLICAS_CAP = 3
"""Replicas of a topic when DRIP_TOPIC_REPLICATION_FACTOR is unset: this many, or fewer brokers."""

TOPIC_VISIBLE_WAIT_S = 5.0
"""How long a topic's configs are asked for again while a broker does not know the topic yet."""

# DescribeConfigs' config_source for a value set on the topic itself. AlterConfigs replaces
# every such value, so those that alignment does not change are sent back as they are.
_DYNAMIC_TOPIC_CONFIG = 1


def replication_factor(settings: Settings, brokers: int) -> int:
    """Replicas of a new topic: DRIP_TOPIC_REPLICATION_FACTOR, else min(3, ``brokers``)."""
    if settings.topic_replication_factor is not None:
        return settings.topic_replication_factor
    return max(1, min(DEFAULT_REPLICAS_CAP, brokers))


def min_insync_replicas(settings: Settings, replicas: int) -> int:
    """``min.insync.replicas`` of a topic with ``replicas`` replicas.

    DRIP_TOPIC_MIN_INSYNC_REPLICAS, else 2 from three replicas on (one may fail, and an
    acknowledged record is still on two brokers), else 1 (with two replicas, 2 would refuse
    every write while one broker is down).
    """
    if settings.topic_min_insync_replicas is not None:
        return settings.topic_min_insync_replicas
    return 2 if replicas >= 3 else 1


def topic_configs(settings: Settings, replicas: int | None = None) -> dict[str, str]:
    """The configs every contract topic carries, for creating topics and aligning them.

    ``replicas``: the topic's replication factor, which ``min.insync.replicas`` depends on;
    default DRIP_TOPIC_REPLICATION_FACTOR, or 1 when that is unset too.
    """
    if replicas is None:
        replicas = settings.topic_replication_factor or 1
    return {
        "retention.ms": str(settings.topic_retention_ms),
        "min.insync.replicas": str(min_insync_replicas(settings, replicas)),
        "max.message.bytes": str(settings.max_record_bytes),
    }


@dataclass(frozen=True)
class ConfigChange:
    """One config of one topic set to a new value; ``old`` is the value that was in effect."""

    topic: str
    name: str
    old: str | None
    new: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.name} {self.old} -> {self.new}"


@dataclass(frozen=True)
class ReplicaShortfall:
    """A topic with fewer replicas than wanted: configs cannot add replicas, a reassignment can."""

    topic: str
    replicas: int
    wanted: int

    def __str__(self) -> str:
        return (
            f"{self.topic}: {self.replicas} replica(s), {self.wanted} wanted; add them with "
            "kafka-reassign-partitions.sh (min.insync.replicas follows the replicas it has)"
        )


def config_changes(
    topic: str, current: dict[str, str], wanted: dict[str, str]
) -> list[ConfigChange]:
    """The changes that bring ``current`` (the values in effect) to ``wanted``, by name."""
    return [
        ConfigChange(topic, name, current.get(name), value)
        for name, value in sorted(wanted.items())
        if current.get(name) != value
    ]


def check_replication(settings: Settings, replicas: int, brokers: int) -> None:
    """Refuse a layout the cluster cannot hold, naming the setting to change."""
    if replicas > brokers:
        raise ConfigError(
            f"DRIP_TOPIC_REPLICATION_FACTOR={replicas} but the cluster at "
            f"{settings.kafka_bootstrap_servers} names {brokers} broker(s); lower it, or unset "
            "it to follow the cluster"
        )
    in_sync = min_insync_replicas(settings, replicas)
    if in_sync > replicas:
        raise ConfigError(
            f"DRIP_TOPIC_MIN_INSYNC_REPLICAS={in_sync} is more than the topics' {replicas} "
            "replica(s): no write could succeed; lower it, or unset it to follow the replicas"
        )


@asynccontextmanager
async def _admin(settings: Settings, doing: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id="drip-bridge-topics"
    )
    try:
        await admin.start()
        yield admin
    except KafkaError as exc:
        raise ServiceUnavailable(
            f"cannot {doing} on Kafka at {settings.kafka_bootstrap_servers} ({exc!r}); "
            "is it running (drip-bridge local status)?"
        ) from exc
    finally:
        await admin.close()


async def _broker_count(admin: AIOKafkaAdminClient) -> int:
    return len((await admin.describe_cluster())["brokers"])


async def ensure_topics(settings: Settings, topics: list[str] | None = None) -> list[str]:
    """Create whichever of ``topics`` (default: every contract topic) is missing.

    New topics get ``topic_partitions`` partitions, :func:`replication_factor` replicas and
    :func:`topic_configs`. Existing topics are left as they are (:func:`align_topics` brings
    their configs in line). Returns the names created by this call; a topic created
    concurrently by another process is not counted and is not an error.
    """
    wanted = list(topics) if topics is not None else contract.topics(settings.topic_prefix)
    async with _admin(settings, "create topics") as admin:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return []
        brokers = await _broker_count(admin)
        replicas = replication_factor(settings, brokers)
        check_replication(settings, replicas, brokers)
        configs = topic_configs(settings, replicas)
        response = await admin.create_topics(
            [
                NewTopic(name, settings.topic_partitions, replicas, topic_configs=configs)
                for name in missing
            ]
        )
    created = []
    for topic, code, *rest in response.topic_errors:
        error = for_code(code)
        if code == 0:
            created.append(topic)
        elif error is not TopicAlreadyExistsError:
            detail = rest[0] if rest and rest[0] else error.__name__
            raise ServiceUnavailable(f"Kafka refused to create topic {topic}: {detail}")
    return created


async def describe_topic_configs(
    admin: AIOKafkaAdminClient, names: list[str], wait_s: float = TOPIC_VISIBLE_WAIT_S
) -> dict[str, list[dict[str, Any]]]:
    """Each topic's config entries in effect, by name.

    A topic just created reaches each broker's metadata a moment after the controller's, and
    the broker asked may answer that it does not know it yet: such topics are asked again for
    up to ``wait_s``. Any other refusal raises :class:`ServiceUnavailable`.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    pending = list(names)
    deadline = time.monotonic() + wait_s
    while pending:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in pending]
        )
        pending = []
        for resource in (r for response in responses for r in response.to_object()["resources"]):
            name, code = resource["resource_name"], resource["error_code"]
            if code == 0:
                found[name] = resource["config_entries"]
            elif code == UnknownTopicOrPartitionError.errno and time.monotonic() < deadline:
                pending.append(name)
            else:
                raise ServiceUnavailable(
                    f"Kafka refused to describe topic {name}: "
                    f"{resource['error_message'] or for_code(code).__name__}"
                )
        if pending:
            await asyncio.sleep(0.1)
    return found


async def align_topics(
    settings: Settings, topics: list[str] | None = None
) -> tuple[list[ConfigChange], list[ReplicaShortfall]]:
    """Bring the configs of existing ``topics`` (default: every contract topic) in line.

    Each topic gets :func:`topic_configs` for the replicas it has (so ``min.insync.replicas``
    never exceeds them); configs set on a topic that are not ours are kept. Topics that do not
    exist are skipped. Returns the changes made, and the topics with fewer replicas than
    :func:`replication_factor`, which configs cannot fix.
    """
    wanted = list(topics) if topics is not None else contract.topics(settings.topic_prefix)
    async with _admin(settings, "align topics") as admin:
        existing = set(await admin.list_topics())
        names = [name for name in wanted if name in existing]
        if not names:
            return [], []
        replicas_wanted = replication_factor(settings, await _broker_count(admin))
        replicas = {
            topic["topic"]: min(len(p["replicas"]) for p in topic["partitions"])
            for topic in await admin.describe_topics(names)
        }
        changes: list[ConfigChange] = []
        alterations: list[ConfigResource] = []
        for topic, entries in (await describe_topic_configs(admin, names)).items():
            current = {e["config_names"]: e["config_value"] for e in entries}
            topic_changes = config_changes(topic, current, topic_configs(settings, replicas[topic]))
            if not topic_changes:
                continue
            own = {
                e["config_names"]: e["config_value"]
                for e in entries
                if e["config_source"] == _DYNAMIC_TOPIC_CONFIG
            }
            if any(value is None for value in own.values()):
                raise ServiceUnavailable(
                    f"topic {topic} has a sensitive config Kafka does not show; altering its "
                    "configs would drop it: set them with kafka-configs.sh instead"
                )
            new = own | {change.name: change.new for change in topic_changes}
            alterations.append(ConfigResource(ConfigResourceType.TOPIC, topic, new))
            changes.extend(topic_changes)
        if alterations:
            for response in await admin.alter_configs(alterations):
                for resource in response.to_object()["resources"]:
                    if resource["error_code"] != 0:
                        raise ServiceUnavailable(
                            f"Kafka refused to alter topic {resource['resource_name']}: "
                            f"{resource['error_message'] or for_code(resource['error_code'])}"
                        )
    shortfalls = [
        ReplicaShortfall(topic, count, replicas_wanted)
        for topic, count in sorted(replicas.items())
        if count < replicas_wanted
    ]
    return changes, shortfalls
