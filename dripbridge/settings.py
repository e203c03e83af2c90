"""The one settings object of drip-bridge.

Every knob is an environment variable with the ``DRIP_`` prefix (or a line in ``.env``). The
settings are built once, at the entry point (the CLI), and handed down; inner modules never read
``os.environ``. The README lists every variable.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dripbridge.errors import ConfigError

RECORD_OVERHEAD_BYTES = 64 * 1024
"""Room in a Kafka record beyond the body: key, headers and the record batch's framing."""


class Settings(BaseSettings):
    """Configuration shared by the receiver, the consumer groups and the operator commands."""

    model_config = SettingsConfigDict(
        env_prefix="DRIP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- receiver -------------------------------------------------------------------------
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated webhook secrets; any one may match (rotation). "
        "The first one signs test events.",
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=1, le=65535)
    http_workers: int = Field(
        1, ge=1, description="Receiver processes sharing the port, each with its own producer."
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1, description="Larger bodies get 413.")
    publish_timeout_s: float = Field(
        10.0, gt=0, description="How long to wait for Kafka's ack before answering 503."
    )
    retry_after_s: int = Field(5, ge=1, description="Retry-After sent with a 503.")
    # Abuse limits of the receiver; docs/reliability.md lists each with the answer it gives.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or CIDR networks of reverse proxies whose "
        "X-Forwarded-For names the client; empty: the socket peer is the client.",
    )
    failure_rate_per_s: float = Field(
        5.0, gt=0, description="Failed requests (401, 400, 413) a client may make per second."
    )
    failure_burst: int = Field(
        20, ge=1, description="Failed requests a client may make at once before getting 429."
    )
    failure_clients_max: int = Field(
        10_000, ge=1, description="Clients whose failure budget is remembered (LRU)."
    )
    compact_signature_max_bytes: int = Field(
        64 * 1024,
        ge=0,
        description="Largest body whose signature is also checked in the compact form.",
    )
    header_timeout_s: float = Field(
        5.0, gt=0, description="Time to send a request's headers before 408 and close."
    )
    body_timeout_s: float = Field(
        10.0, gt=0, description="Time to send a request's body before 408 and close."
    )
    keep_alive_timeout_s: int = Field(
        5, ge=1, description="Idle time allowed between requests on one connection."
    )
    max_connections: int = Field(
        2048, ge=1, description="Open connections (or requests in progress) before 503."
    )

    # --- Kafka ----------------------------------------------------------------------------
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = Field("drip", pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
    topic_partitions: int = Field(6, ge=1)
    topic_replication_factor: int = Field(1, ge=1)
    topic_retention_ms: int = Field(-1, ge=-1, description="-1 keeps events forever (replay).")
    linger_ms: int = Field(5, ge=0, description="Producer linger: lets concurrent sends batch.")

    # --- PostgreSQL -----------------------------------------------------------------------
    database_url: str = "postgresql+psycopg://drip:drip@127.0.0.1:5432/drip"

    # --- consumer groups ------------------------------------------------------------------
    batch_max_records: int = Field(2000, ge=1)
    batch_max_wait_ms: int = Field(200, ge=0)
    consumer_processes: int = Field(
        1,
        ge=1,
        description="Processes per `drip-bridge consume` (and per group in `stack`); they split "
        "the partitions, one core each.",
    )
    streak_timezone: str = Field("UTC", description="Calendar used to count quest-streak days.")
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Port for a consumer's /metrics; 0 turns it off."
    )

    # --- DRIP API (webhook registration) ------------------------------------------------
    api_base_url: str = "https://api.drip.re/api/v1"
    api_key: SecretStr | None = None
    realm_id: str | None = None
    webhooks_path: str = "/realm/{realm_id}/webhooks"
    api_timeout_s: float = Field(
        10.0, gt=0, description="How long a DRIP API call may take before it counts as failed."
    )
    api_max_retries: int = Field(
        3, ge=0, le=10, description="Retries of a DRIP API call answered 429 (after Retry-After)."
    )

    # --- local services (no Docker) ---------------------------------------------------------
    local_dir: Path = Path(".local")
    kafka_version: str = "4.1.1"
    kafka_heap: str = "1g"

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"DRIP_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR network "
                    "(write e.g. 10.0.0.5,10.1.0.0/16)"
                ) from None
        return value

    @field_validator("webhook_secrets")
    @classmethod
    def _strong_enough(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            if len(secret.get_secret_value()) < 8:
                raise ValueError("each webhook secret must be at least 8 characters long")
        return value

    def require_webhook_secrets(self) -> list[bytes]:
        """The secrets as bytes, or a ConfigError telling the operator what to set."""
        if not self.webhook_secrets:
            raise ConfigError(
                "no webhook secret configured: set DRIP_WEBHOOK_SECRETS to the secret you "
                "registered with DRIP (comma-separate several while rotating)"
            )
        return [s.get_secret_value().encode("utf-8") for s in self.webhook_secrets]

    @property
    def max_record_bytes(self) -> int:
        """Largest Kafka record the receiver may write: the body plus room for key and headers.

        The producer's request size and the topics' ``max.message.bytes`` are set from it, so
        any body the receiver accepts fits in a record.
        """
        return self.max_body_bytes + RECORD_OVERHEAD_BYTES

    @property
    def kafka_port(self) -> int:
        """Port of the first bootstrap server; the local broker listens there."""
        return _port_of(self.kafka_bootstrap_servers.split(",")[0], 9092)

    @property
    def postgres_port(self) -> int:
        """Port in the database URL; the local PostgreSQL listens there."""
        return urlsplit(self.database_url).port or 5432

    @property
    def sync_database_url(self) -> str:
        """The URL for SQLAlchemy/psycopg 3 (``postgresql+psycopg://``)."""
        url = self.database_url
        for old in ("postgresql://", "postgres://"):
            if url.startswith(old):
                return "postgresql+psycopg://" + url[len(old) :]
        return url

    @property
    def libpq_url(self) -> str:
        """The URL for plain libpq (psycopg.connect), without the SQLAlchemy driver part."""
        return self.sync_database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _port_of(hostport: str, default: int) -> int:
    _, _, port = hostport.strip().rpartition(":")
    return int(port) if port.isdigit() else default
