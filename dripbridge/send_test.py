"""``drip-bridge send-test``: sign events the way DRIP does and POST them to our receiver.

The body is signed as sent: ``X-Drip-Signature: sha256=<HMAC-SHA256 hex of the raw body>``
with the first secret of DRIP_WEBHOOK_SECRETS, the one DRIP is told to use. Sample events come
from :mod:`devstack.samples`; ``--file`` sends a captured body byte for byte, which is how to
replay exactly what DRIP once sent. httpx is imported lazily to keep ``--help`` fast.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer

from core.contract import DOCUMENTED_TYPES, OTHER, event_identity, signature_header
from core.errors import ConfigError
from core.exit_codes import ExitCode, exit_codes_help
from core.settings import Settings
from devstack.samples import DEMO_REALM, SampleSeries, object_id
from dripbridge.config import load_settings

EPILOG = exit_codes_help(
    [ExitCode.OK, ExitCode.USAGE, ExitCode.CONFIG, ExitCode.HTTP_ERROR, ExitCode.UNREACHABLE]
)

_WILDCARD_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def receiver_url(settings: Settings) -> str:
    """Where ``serve`` listens, as a URL this machine can call (a wildcard bind means loopback)."""
    host = _WILDCARD_HOSTS.get(settings.http_host, settings.http_host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http_port}/webhooks/drip"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the receiver made of one body."""

    status: int
    event_type: str
    identity: str
    answer: str

    @property
    def ok(self) -> bool:
        """The receiver took the event (any 2xx)."""
        return 200 <= self.status < 300


def describe(body: bytes) -> tuple[str, str]:
    """The body's event type and :func:`event_identity`, or ``-`` for what is not an event."""
    try:
        event = json.loads(body)
    except ValueError:
        return "-", "-"
    if not isinstance(event, dict):
        return "-", "-"
    return str(event.get("type", "-")), event_identity(event)


def signed_headers(body: bytes, secret: bytes) -> dict[str, str]:
    """The headers DRIP sends with ``body``: its content type and signature."""
    return {"Content-Type": "application/json", "X-Drip-Signature": signature_header(body, secret)}


def outcome_of(response: httpx.Response, body: bytes) -> Outcome:
    """What the receiver answered to ``body``, its text on one line and cut to 500 characters."""
    event_type, identity = describe(body)
    answer = " ".join(response.text.split())[:500]
    return Outcome(response.status_code, event_type, identity, answer)


def post_signed(client: httpx.Client, url: str, body: bytes, secret: bytes) -> Outcome:
    """POST ``body`` signed with ``secret``; transport errors propagate as httpx raises them."""
    response = client.post(url, content=body, headers=signed_headers(body, secret))
    return outcome_of(response, body)


def signing_secret(settings: Settings) -> bytes:
    """The first of DRIP_WEBHOOK_SECRETS, the one DRIP signs with; exits CONFIG without one."""
    try:
        return settings.require_webhook_secrets()[0]
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.CONFIG) from None


def _bodies(
    settings: Settings, event_type: str | None, file: Path | None, realm: str | None,
    member: str | None, count: int,
) -> Iterator[bytes]:  # fmt: skip
    if file is not None:
        captured = file.read_bytes()
        for _ in range(count):
            yield captured
        return
    assert event_type is not None
    rng = random.Random()
    now = datetime.now(UTC)
    series = SampleSeries(
        realm or settings.realm_id or DEMO_REALM, member or object_id(rng, now), rng, now
    )
    for _ in range(count):
        yield json.dumps(series.next(event_type), ensure_ascii=False).encode("utf-8")


def send_test_command(
    event_type: Annotated[
        str | None,
        typer.Argument(
            metavar="TYPE", help="A documented type (member.joined, ...) or any custom type."
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            metavar="URL", help="Receiver URL; default: from DRIP_HTTP_HOST and DRIP_HTTP_PORT."
        ),
    ] = None,
    realm: Annotated[
        str | None,
        typer.Option(
            metavar="REALM_ID", help="Realm id; default DRIP_REALM_ID or the guide's sample."
        ),
    ] = None,
    member: Annotated[
        str | None,
        typer.Option(metavar="MEMBER_ID", help="Member id; default a new member for this run."),
    ] = None,
    count: Annotated[
        int, typer.Option(min=1, max=100_000, metavar="N", help="How many events to send.")
    ] = 1,
    file: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            metavar="PATH",
            help="Send this captured body (a file of raw JSON) byte for byte.",
        ),
    ] = None,
) -> None:
    """Sign sample events (or a captured body) like DRIP does and POST them to the receiver.

    Every sample is new (time, ids, amounts), so the tables change; newBalance only grows.

    Prints, per event: the HTTP status, the event identity and what the receiver answered.
    """

    if (event_type is None) == (file is None):
        raise typer.BadParameter("give either TYPE or --file")
    settings = load_settings()
    if event_type is not None and event_type not in DOCUMENTED_TYPES:
        typer.echo(
            f"warning: {event_type!r} is not a type in DRIP's guide "
            f"({', '.join(sorted(DOCUMENTED_TYPES))}); sending it anyway, as a custom event "
            f"that the receiver publishes to {settings.topic_prefix}.{OTHER}",
            err=True,
        )
    secret = signing_secret(settings)
    target = url or receiver_url(settings)
    refused: list[int] = []
    with httpx.Client(timeout=settings.publish_timeout_s + 5) as client:
        for n, body in enumerate(_bodies(settings, event_type, file, realm, member, count), 1):
            try:
                outcome = post_signed(client, target, body, secret)
            except httpx.HTTPError as exc:
                typer.echo(
                    f"error: no answer from the receiver at {target} ({type(exc).__name__}: "
                    f"{exc}); is `drip-bridge serve` running there?",
                    err=True,
                )
                raise typer.Exit(ExitCode.UNREACHABLE) from None
            if not outcome.ok:
                refused.append(outcome.status)
            typer.echo(
                f"[{n}/{count}] HTTP {outcome.status} {outcome.event_type} "
                f"id={outcome.identity} receiver: {outcome.answer or '(empty)'}"
            )
    if refused:
        hint = (
            "; a 401 means the receiver's DRIP_WEBHOOK_SECRETS lacks the first secret set here"
            if 401 in refused
            else ""
        )
        typer.echo(
            f"error: the receiver refused {len(refused)} of {count} event(s){hint}", err=True
        )
        raise typer.Exit(ExitCode.HTTP_ERROR)
    typer.echo(f"sent {count} event(s) to {target}")
