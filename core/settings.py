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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigError

RECORD_OVERHEAD_BYTES = 64 * 1024
"""Room in a Kafka record beyond the body: key, headers and the record batch's framing."""

DATABASE_SCHEMES = ("postgresql+psycopg", "postgresql", "postgres")
"""URL schemes of ``DRIP_DATABASE_URL``: PostgreSQL through psycopg 3, the only driver used."""


MAX_JSON_DEPTH_CEILING = 200
"""Highest ``max_json_depth`` allowed: the routines that walk an event recurse once per level
(two frames in a comprehension) and must stay well inside Python's recursion limit (1000)."""


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
    max_json_depth: int = Field(
        64,
        ge=1,
        le=MAX_JSON_DEPTH_CEILING,
        description="Deepest nesting of arrays and objects in a body; deeper gets 400 (or 401 "
        "when unsigned).",
    )
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
        2048,
        ge=1,
        description="Open connections (or requests in progress) before 503 with Retry-After.",
    )

    # --- receiver spool (verified events kept on local disk while Kafka is away) -----------
    spool_enabled: bool = Field(
        True, description="false answers 503 while Kafka is away instead of spooling."
    )
    spool_dir: Path | None = Field(
        None,
        description="Directory of the spool files, one per receiver process; "
        "unset means <local_dir>/spool.",
    )
    spool_max_bytes: int = Field(
        1024**3,
        ge=0,
        description="Record bytes the spool holds before the receiver answers 503; 0 turns the "
        "spool off.",
    )
    spool_drain_batch: int = Field(
        500, ge=1, description="Spooled records sent to Kafka together while draining."
    )

    # --- Kafka ----------------------------------------------------------------------------
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = Field("drip", pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
    topic_partitions: int = Field(6, ge=1)
    topic_replication_factor: int | None = Field(
        None,
        ge=1,
        description="Replicas of created topics; unset: min(3, brokers the cluster names).",
    )
    topic_min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="min.insync.replicas of our topics; unset: 2 with 3 or more replicas, else 1.",
    )
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
    max_event_ahead_s: float = Field(
        900.0,
        gt=0,
        description="How far an event's own time may be ahead of its receive time; further "
        "ahead, the leaderboard, streaks and purchases dead-letter it (the archive keeps it).",
    )
    group_id_prefix: str = Field(
        "drip-",
        pattern=r"^[A-Za-z0-9._\-]*$",
        description="Kafka consumer group ids are <prefix><group name>; give each deployment "
        "that shares a Kafka cluster (a DRIP_TOPIC_PREFIX of its own) a prefix of its own.",
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Port for a consumer's /metrics; 0 turns it off."
    )
    shutdown_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Longest a consumer process or the receiver takes to stop after SIGTERM, "
        "even with Kafka frozen; the supervisor of `stack` waits this long plus a margin.",
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

    @model_validator(mode="after")
    def _spool_fits_a_record(self) -> Settings:
        if 0 < self.spool_max_bytes < self.max_record_bytes:
            raise ValueError(
                f"DRIP_SPOOL_MAX_BYTES={self.spool_max_bytes} is smaller than one record "
                f"({self.max_record_bytes} bytes: DRIP_MAX_BODY_BYTES plus "
                f"{RECORD_OVERHEAD_BYTES} for key and headers); raise it, or set it to 0 "
                "to turn the spool off"
            )
        return self

    @property
    def spool_active(self) -> bool:
        """Whether the receiver spools while Kafka is away (enabled and given room)."""
        return self.spool_enabled and self.spool_max_bytes > 0

    @property
    def spool_directory(self) -> Path:
        """Where the spool files live: ``DRIP_SPOOL_DIR``, else ``<local_dir>/spool``."""
        return self.spool_dir if self.spool_dir is not None else self.local_dir / "spool"

    @field_validator("topic_replication_factor", "topic_min_insync_replicas", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # compose passes ${VAR:-} through as an empty string: that means "follow the cluster".
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _in_sync_within_replicas(self) -> Settings:
        rf, in_sync = self.topic_replication_factor, self.topic_min_insync_replicas
        if rf is not None and in_sync is not None and in_sync > rf:
            raise ValueError(
                f"DRIP_TOPIC_MIN_INSYNC_REPLICAS={in_sync} exceeds "
                f"DRIP_TOPIC_REPLICATION_FACTOR={rf}: no write could succeed"
            )
        return self

    @field_validator("streak_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/Paris"
            ) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: str) -> str:
        scheme, sep, _ = value.partition("://")
        if not sep or scheme not in DATABASE_SCHEMES:
            # The URL is not echoed: it holds the password.
            named = f"unsupported URL scheme {scheme}://" if sep else "not a URL"
            raise ValueError(
                f"{named}: use postgresql://user:password@host:port/database "
                "(PostgreSQL is the only database drip-bridge uses)"
            )
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
