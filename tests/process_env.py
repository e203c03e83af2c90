"""The environment of a ``drip-bridge`` child process that a test starts."""

from __future__ import annotations

import os

from core.settings import Settings


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment without its DRIP_* variables, plus ``settings``' services.

    ``extra`` adds settings by their variable names (``DRIP_BATCH_MAX_RECORDS="40"``).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIP_")}
    env |= {
        "DRIP_DATABASE_URL": settings.database_url,
        "DRIP_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DRIP_TOPIC_PREFIX": settings.topic_prefix,
        "DRIP_GROUP_ID_PREFIX": settings.group_id_prefix,
        "DRIP_TOPIC_PARTITIONS": str(settings.topic_partitions),
    }
    return env | extra
