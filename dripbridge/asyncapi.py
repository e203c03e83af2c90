"""The AsyncAPI document of every topic, generated with FastStream from the contract.

FastStream only documents here: the receiver and the consumer groups stay on aiokafka, and only
this module (imported by ``drip-bridge asyncapi``) imports FastStream, so neither process loads it.

One publisher per topic of :func:`core.contract.topics`, each with the payload model of its
type from :mod:`core.payloads`. FastStream 0.7 does not yet write a message's headers nor
its Kafka binding (the record key), so :func:`document` adds both to each message from
:class:`core.contract.Header` and :data:`core.contract.MEMBER_ID_PATHS`.

The document is the same on every run (keys sorted, no timestamps) and describes the default
settings, so that ``docs/asyncapi.yaml`` can be compared with a fresh generation.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import yaml
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from core.contract import MEMBER_ID_PATHS, OTHER, Header, topic_for
from core.payloads import PAYLOADS
from core.settings import Settings

DEFAULT_PREFIX: str = Settings.model_fields["topic_prefix"].default
DEFAULT_SERVERS: str = Settings.model_fields["kafka_bootstrap_servers"].default

HEADERS_SCHEMA = "RecordHeaders"
KEY_SCHEMA = "RecordKey"
KAFKA_BINDING_VERSION = "0.4.0"
"""The Kafka bindings version FastStream writes for channels; messages use the same."""

HEADER_DESCRIPTIONS: dict[str, str] = {
    Header.EVENT_ID: "The event identity: the event's `id` when it has one, else the SHA-256 "
    "hex of its canonical JSON (sorted keys, no whitespace, UTF-8). Consumers count each "
    "identity once.",
    Header.EVENT_TYPE: "The event's `type`, as DRIP sent it (on `<prefix>.other`, the custom "
    "type).",
    Header.REALM_ID: "The event's `realmId`; empty when it has none.",
    Header.RECEIVED_AT: "When the receiver accepted the event: ISO 8601, UTC, microseconds.",
    Header.SIGNATURE_FORM: "Which bytes the signature matched: `raw` (the body as sent) or "
    "`compact` (its JSON.stringify re-serialization).",
}

_INFO = "\n\n".join(
    (
        "Every Kafka topic drip-bridge's receiver writes: one per event type documented in "
        "DRIP's webhook guide, and `<prefix>.other` for any other type (custom events). Topics "
        f"are named `<prefix>.<type>`; this document shows the default prefix `{DEFAULT_PREFIX}`, "
        "set by `DRIP_TOPIC_PREFIX`.",
        "Each record's value is the exact JSON body DRIP sent and signed (HMAC-SHA256, verified "
        "before publishing). Payload fields are those of the guide's samples: a field shown there "
        "is required unless another of the guide's events leaves it out. DRIP may add fields: "
        "every object allows additional properties. The record key and headers are described on "
        "each message.",
        "Generated from `dripbridge/contract.py` and `dripbridge/payloads.py` by "
        "`drip-bridge asyncapi --out docs/asyncapi.yaml`; do not edit by hand.",
    )
)


def _topic_description(suffix: str) -> str:
    if suffix == OTHER:
        return (
            "Events of every type the guide does not document (custom events from other apps); "
            "the type is in the `drip-event-type` header."
        )
    return f"`{suffix}` events from DRIP."


def build_broker(prefix: str = DEFAULT_PREFIX) -> KafkaBroker:
    """A broker that declares one publisher per topic of the contract, with its payload model."""
    broker = KafkaBroker(
        DEFAULT_SERVERS,
        description="The Kafka cluster in `DRIP_KAFKA_BOOTSTRAP_SERVERS` (default shown).",
    )
    for suffix in sorted(PAYLOADS):  # every documented type, and ``other``
        topic = topic_for(prefix, suffix)
        broker.publisher(
            topic,
            title=topic,
            description=_topic_description(suffix),
            schema=PAYLOADS[suffix],
        )
    return broker


def _headers_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {
        name: {"type": "string", "description": text} for name, text in HEADER_DESCRIPTIONS.items()
    }
    properties[Header.SIGNATURE_FORM]["enum"] = ["compact", "raw"]
    return {
        "title": HEADERS_SCHEMA,
        "description": "Headers the receiver sets on every record (UTF-8 values).",
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
    }


def _key_schema() -> dict[str, Any]:
    paths = ", ".join(f"`{'.'.join(path)}`" for path in MEMBER_ID_PATHS)
    return {
        "title": KEY_SCHEMA,
        "description": f"The member id ({paths}, the first present), else the event's "
        "`realmId`; no key when the event names neither. One member's events stay in order "
        "in one partition.",
        "type": "string",
    }


def _rename_messages(doc: dict[str, Any]) -> None:
    """Name each message component after its topic.

    FastStream names them ``<channel>:Message``, but AsyncAPI 3.0 allows only letters, digits,
    ``.``, ``-`` and ``_`` in component names (and its JSON schema silently skips others).
    """
    messages = doc["components"]["messages"]
    renamed = {name.removesuffix(":Message"): message for name, message in messages.items()}
    doc["components"]["messages"] = renamed
    for channel in doc["channels"].values():
        for ref in channel["messages"].values():
            old = ref["$ref"].removeprefix("#/components/messages/")
            ref["$ref"] = f"#/components/messages/{old.removesuffix(':Message')}"


def document(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic, as plain JSON data."""
    spec = AsyncAPI(
        build_broker(prefix),
        title="drip-bridge topics",
        version=version("drip-bridge"),
        description=_INFO,
    ).to_specification()
    doc: dict[str, Any] = spec.to_jsonable()
    components = doc["components"]
    components["schemas"][HEADERS_SCHEMA] = _headers_schema()
    components["schemas"][KEY_SCHEMA] = _key_schema()
    _rename_messages(doc)
    for message in components["messages"].values():
        message["headers"] = {"$ref": f"#/components/schemas/{HEADERS_SCHEMA}"}
        message["correlationId"] = {
            "description": "The event identity, the same for DRIP's retries of one event.",
            "location": f"$message.header#/{Header.EVENT_ID}",
        }
        message["bindings"] = {
            "kafka": {
                "key": {"$ref": f"#/components/schemas/{KEY_SCHEMA}"},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }
    return doc


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks, so descriptions read as written."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(doc: dict[str, Any]) -> str:
    """The document as YAML, keys sorted so that equal documents give equal text."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=100)
