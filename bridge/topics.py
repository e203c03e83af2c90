"""Creation of the contract's Kafka topics, with the configured layout and retention."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from dripbridge import contract
from dripbridge.errors import ServiceUnavailable
from dripbridge.settings import Settings


async def ensure_topics(settings: Settings, topics: list[str] | None = None) -> list[str]:
    """Create whichever of ``topics`` (default: every contract topic) is missing.

    New topics get ``topic_partitions`` partitions, ``topic_replication_factor`` replicas,
    ``retention.ms = topic_retention_ms`` and ``max.message.bytes = max_record_bytes`` (so a
    record holding a body of ``max_body_bytes`` is taken, whatever the broker's default).
    Existing topics are left as they are. Returns the names created by this call; a topic
    created concurrently by another process is not counted and is not an error.
    """
    wanted = list(topics) if topics is not None else contract.topics(settings.topic_prefix)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id="drip-bridge-topics"
    )
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(
                    name,
                    settings.topic_partitions,
                    settings.topic_replication_factor,
                    topic_configs={
                        "retention.ms": str(settings.topic_retention_ms),
                        "max.message.bytes": str(settings.max_record_bytes),
                    },
                )
                for name in missing
            ]
        )
    except KafkaError as exc:
        raise ServiceUnavailable(
            f"cannot create topics on Kafka at {settings.kafka_bootstrap_servers} ({exc!r}); "
            "is it running (drip-bridge local status)?"
        ) from exc
    finally:
        await admin.close()
    created = []
    for topic, code, *rest in response.topic_errors:
        error = for_code(code)
        if code == 0:
            created.append(topic)
        elif error is not TopicAlreadyExistsError:
            detail = rest[0] if rest and rest[0] else error.__name__
            raise ServiceUnavailable(f"Kafka refused to create topic {topic}: {detail}")
    return created
