"""Topic layout: replicas and min.insync.replicas from the cluster, and the changes that align."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from core.errors import ConfigError, ServiceUnavailable
from core.settings import Settings
from core.topics import (
    ConfigChange,
    check_replication,
    config_changes,
    describe_topic_configs,
    min_insync_replicas,
    replication_factor,
    topic_configs,
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("DRIP_"):
            monkeypatch.delenv(name)


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    ("configured", "brokers", "expected"),
    [
        (None, 1, 1),
        (None, 2, 2),
        (None, 3, 3),
        (None, 5, 3),
        (None, 0, 1),  # a cluster that names no broker yet: creation then fails on its own
        (2, 5, 2),
        (1, 3, 1),
        (3, 1, 3),  # set explicitly: kept, and check_replication refuses it
    ],
)
def test_replication_factor(configured: int | None, brokers: int, expected: int) -> None:
    settings = _settings(topic_replication_factor=configured)
    assert replication_factor(settings, brokers) == expected


@pytest.mark.parametrize(
    ("configured", "replicas", "expected"),
    [
        (None, 1, 1),
        (None, 2, 1),
        (None, 3, 2),
        (None, 5, 2),
        (1, 3, 1),
        (3, 5, 3),
    ],
)
def test_min_insync_replicas(configured: int | None, replicas: int, expected: int) -> None:
    settings = _settings(topic_min_insync_replicas=configured)
    assert min_insync_replicas(settings, replicas) == expected


@pytest.mark.parametrize(
    ("values", "replicas", "expected"),
    [
        ({}, 3, {"retention.ms": "-1", "min.insync.replicas": "2"}),
        ({}, 1, {"retention.ms": "-1", "min.insync.replicas": "1"}),
        ({}, None, {"min.insync.replicas": "1"}),
        ({"topic_replication_factor": 3}, None, {"min.insync.replicas": "2"}),
        ({"topic_retention_ms": 86_400_000}, 2, {"retention.ms": "86400000"}),
        ({"max_body_bytes": 1000}, 1, {"max.message.bytes": str(1000 + 64 * 1024)}),
    ],
)
def test_topic_configs(
    values: dict[str, object], replicas: int | None, expected: dict[str, str]
) -> None:
    configs = topic_configs(_settings(**values), replicas)
    assert set(configs) == {"retention.ms", "min.insync.replicas", "max.message.bytes"}
    assert configs | expected == configs


@pytest.mark.parametrize(
    ("current", "wanted", "expected"),
    [
        ({"retention.ms": "-1"}, {"retention.ms": "-1"}, []),
        (
            {"retention.ms": "604800000"},
            {"retention.ms": "-1"},
            [("retention.ms", "604800000", "-1")],
        ),
        ({}, {"min.insync.replicas": "2"}, [("min.insync.replicas", None, "2")]),
        (
            {
                "min.insync.replicas": "1",
                "max.message.bytes": "1048588",
                "cleanup.policy": "delete",
            },
            {"max.message.bytes": "1114112", "min.insync.replicas": "2"},
            [("max.message.bytes", "1048588", "1114112"), ("min.insync.replicas", "1", "2")],
        ),
    ],
)
def test_config_changes(
    current: dict[str, str],
    wanted: dict[str, str],
    expected: list[tuple[str, str | None, str]],
) -> None:
    changes = config_changes("drip.x", current, wanted)
    assert changes == [ConfigChange("drip.x", *change) for change in expected]


def test_a_change_reads_as_old_and_new_value() -> None:
    assert str(ConfigChange("drip.other", "min.insync.replicas", "1", "2")) == (
        "drip.other: min.insync.replicas 1 -> 2"
    )


@pytest.mark.parametrize(
    ("values", "replicas", "brokers", "setting"),
    [
        ({"topic_replication_factor": 3}, 3, 1, "DRIP_TOPIC_REPLICATION_FACTOR"),
        ({"topic_min_insync_replicas": 2}, 1, 1, "DRIP_TOPIC_MIN_INSYNC_REPLICAS"),
    ],
)
def test_a_layout_the_cluster_cannot_hold_names_the_setting(
    values: dict[str, object], replicas: int, brokers: int, setting: str
) -> None:
    with pytest.raises(ConfigError, match=setting):
        check_replication(_settings(**values), replicas, brokers)


@pytest.mark.parametrize(("replicas", "brokers"), [(1, 1), (3, 3), (2, 3)])
def test_a_layout_the_cluster_holds_passes(replicas: int, brokers: int) -> None:
    check_replication(_settings(), replicas, brokers)


def test_in_sync_replicas_above_the_replication_factor_are_refused() -> None:
    with pytest.raises(ValidationError, match="DRIP_TOPIC_MIN_INSYNC_REPLICAS=3"):
        _settings(topic_replication_factor=2, topic_min_insync_replicas=3)


@pytest.mark.parametrize("raw", ["", " "])
def test_an_empty_replication_setting_follows_the_cluster(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("DRIP_TOPIC_REPLICATION_FACTOR", raw)
    monkeypatch.setenv("DRIP_TOPIC_MIN_INSYNC_REPLICAS", raw)
    settings = _settings()
    assert (settings.topic_replication_factor, settings.topic_min_insync_replicas) == (None, None)


_KNOWN, _UNKNOWN, _AUTHORIZATION_FAILED = 0, 3, 29


class _Described:
    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self._resources = resources

    def to_object(self) -> dict[str, Any]:
        return {"resources": self._resources}


class _Brokers:
    """DescribeConfigs answered from a script: per call, each topic's error code."""

    def __init__(self, script: list[dict[str, int]]) -> None:
        self.script = script
        self.asked: list[list[str]] = []

    async def describe_configs(self, resources: list[Any]) -> list[_Described]:
        names = [resource.name for resource in resources]
        self.asked.append(names)
        codes = self.script[min(len(self.asked), len(self.script)) - 1]
        return [
            _Described(
                [
                    {
                        "resource_name": name,
                        "error_code": codes[name],
                        "error_message": None,
                        "config_entries": [] if codes[name] else [{"config_names": name}],
                    }
                    for name in names
                ]
            )
        ]


@pytest.mark.parametrize(
    ("script", "asked"),
    [
        ([{"a": _KNOWN, "b": _KNOWN}], [["a", "b"]]),
        # A broker that has not seen a new topic yet is asked again, for that topic only.
        ([{"a": _KNOWN, "b": _UNKNOWN}, {"b": _KNOWN}], [["a", "b"], ["b"]]),
        (
            [{"a": _UNKNOWN, "b": _UNKNOWN}, {"a": _UNKNOWN, "b": _KNOWN}, {"a": _KNOWN}],
            [["a", "b"], ["a", "b"], ["a"]],
        ),
    ],
)
async def test_configs_are_asked_again_while_a_broker_does_not_know_the_topic(
    script: list[dict[str, int]], asked: list[list[str]]
) -> None:
    brokers = _Brokers(script)
    configs = await describe_topic_configs(brokers, ["a", "b"])  # type: ignore[arg-type]
    assert configs == {"a": [{"config_names": "a"}], "b": [{"config_names": "b"}]}
    assert brokers.asked == asked


@pytest.mark.parametrize(
    ("codes", "wait_s", "error"),
    [
        ({"a": _AUTHORIZATION_FAILED}, 5.0, "TopicAuthorizationFailedError"),
        ({"a": _UNKNOWN}, 0.0, "UnknownTopicOrPartitionError"),
    ],
)
async def test_a_refusal_that_lasts_names_the_topic(
    codes: dict[str, int], wait_s: float, error: str
) -> None:
    with pytest.raises(ServiceUnavailable, match=f"describe topic a: {error}"):
        await describe_topic_configs(_Brokers([codes]), ["a"], wait_s)  # type: ignore[arg-type]
