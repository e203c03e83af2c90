"""Fixtures shared by every test: settings, real services, event factories.

Integration tests run against real Kafka and PostgreSQL: testcontainers when a Docker engine
answers, otherwise the local services that `./dev test` starts (`drip-bridge local start`).
When neither answers, they skip on a developer's machine and fail in CI (CI=true).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from core.db import migrate
from core.settings import Settings
from devstack.kafka import kafka_answers
from devstack.postgres import postgres_answers
from tests.databases import scratch_database
from tests.factories import TEST_SECRET
from tests.topics import delete_session_topics, new_prefix


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _missing(what: str) -> None:
    message = f"{what} is not reachable; start it with `drip-bridge local start` (./dev test does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings for the services under test, from testcontainers or from the environment."""
    overrides: dict[str, object] = {
        "webhook_secrets": TEST_SECRET,
        # Receivers of this session spool apart from a developer's and other sessions'.
        "spool_dir": tmp_path_factory.mktemp("spool"),
    }
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with (
            KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
            PostgresContainer("postgres:16", driver="psycopg") as pg,
        ):
            overrides |= {
                "kafka_bootstrap_servers": kafka.get_bootstrap_server(),
                "database_url": pg.get_connection_url(),
            }
            yield Settings(**overrides)  # type: ignore[arg-type]
        return
    yield Settings(**overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def kafka_settings(base_settings: Settings) -> Iterator[Settings]:
    """Base settings once Kafka is known to answer; the session's topics go at its end."""
    if not kafka_answers(base_settings.kafka_bootstrap_servers):
        _missing(f"Kafka at {base_settings.kafka_bootstrap_servers}")
    yield base_settings
    delete_session_topics(base_settings.kafka_bootstrap_servers)


@pytest.fixture(scope="session")
def db_settings(base_settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh database of this test session, built by the migrations."""
    if not postgres_answers(base_settings.libpq_url):
        _missing(f"PostgreSQL at port {base_settings.postgres_port}")
    with scratch_database(base_settings, "drip_test") as settings:
        migrate(settings)
        yield settings


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix of this test alone, so tests never read each other's events."""
    return new_prefix()


@pytest.fixture
def settings(kafka_settings: Settings, topic_prefix: str) -> Settings:
    """Kafka settings with a topic prefix of this test alone."""
    return kafka_settings.model_copy(
        update={
            "topic_prefix": topic_prefix,
            "topic_partitions": 3,
            # Kafka consumer groups of this test alone: never a developer's live groups.
            "group_id_prefix": f"{topic_prefix}-",
        }
    )
