"""The AsyncAPI document: committed and current, every topic with its payload, key and headers."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from core.contract import OTHER, EventType, Header, topics
from core.payloads import PAYLOADS
from dripbridge.asyncapi import DEFAULT_PREFIX, document, to_yaml
from dripbridge.cli import app

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
REGENERATE = "regenerate it: drip-bridge asyncapi --out docs/asyncapi.yaml"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    return loaded


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _message(doc: dict[str, Any], topic: str) -> dict[str, Any]:
    (ref,) = [m["$ref"] for m in doc["channels"][topic]["messages"].values()]
    message: dict[str, Any] = _resolve(doc, ref)
    return message


def test_the_committed_document_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == to_yaml(document()), REGENERATE


def test_the_command_writes_and_prints_the_document(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "asyncapi.yaml"
    written = CliRunner().invoke(app, ["asyncapi", "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")
    printed = CliRunner().invoke(app, ["asyncapi"])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == COMMITTED.read_text(encoding="utf-8")


def test_the_document_names_exactly_the_contract_topics(committed: dict[str, Any]) -> None:
    expected = set(topics(DEFAULT_PREFIX))
    assert {c["address"] for c in committed["channels"].values()} == expected
    assert {c["bindings"]["kafka"]["topic"] for c in committed["channels"].values()} == expected
    assert len(committed["operations"]) == len(expected)
    assert all(op["action"] == "send" for op in committed["operations"].values())
    assert "DRIP_TOPIC_PREFIX" in committed["info"]["description"]


@pytest.mark.parametrize("suffix", [t.value for t in EventType] + [OTHER])
def test_each_topic_carries_the_payload_schema_of_its_type(
    committed: dict[str, Any], suffix: str
) -> None:
    model = PAYLOADS[suffix]
    payload = _resolve(
        committed, _message(committed, f"{DEFAULT_PREFIX}.{suffix}")["payload"]["$ref"]
    )
    expected = model.model_json_schema()
    assert payload["title"] == model.__name__
    assert payload["additionalProperties"] is True
    assert set(payload["properties"]) == set(expected["properties"])
    assert payload["required"] == expected["required"]
    if suffix != OTHER:
        assert payload["properties"]["type"]["const"] == suffix
        assert payload["required"] == ["timestamp", "realmId", "type", "data"]


@pytest.mark.parametrize("topic", topics(DEFAULT_PREFIX))
def test_each_message_names_the_record_key_and_every_header(
    committed: dict[str, Any], topic: str
) -> None:
    message = _message(committed, topic)
    headers = _resolve(committed, message["headers"]["$ref"])
    names = {v for k, v in vars(Header).items() if k.isupper()}
    assert set(headers["properties"]) == names
    assert set(headers["required"]) == names
    assert headers["properties"][Header.SIGNATURE_FORM]["enum"] == ["compact", "raw"]
    key = _resolve(committed, message["bindings"]["kafka"]["key"]["$ref"])
    assert key["type"] == "string"
    for path in ("data.member.id", "data.memberId", "data.purchase.member.id", "realmId"):
        assert f"`{path}`" in key["description"]
    assert message["correlationId"]["location"] == f"$message.header#/{Header.EVENT_ID}"


def test_every_reference_in_the_document_resolves(committed: dict[str, Any]) -> None:
    refs = set(_refs(committed))
    assert refs
    for ref in refs:
        assert isinstance(_resolve(committed, ref), dict), ref


def test_component_names_are_those_asyncapi_allows(committed: dict[str, Any]) -> None:
    names = [name for group in committed["components"].values() for name in group]
    assert names
    assert [n for n in names if not re.fullmatch(r"[a-zA-Z0-9.\-_]+", n)] == []


def test_the_receiver_and_the_consumers_do_not_load_faststream() -> None:
    code = (
        "import sys, dripbridge.cli, bridge.server, consumers.engine.process\n"
        "from consumers import registry\n"
        "registry.all_groups()\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'faststream')\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
