"""``drip-bridge demo``: send a realm's signed history to the receiver, so the README's queries
have rows to show.

The history comes from :mod:`devstack.demo`; each body is signed and posted as ``send-test``
does it (:mod:`dripbridge.send_test`). Bodies go out concurrently, at most
:data:`MAX_IN_FLIGHT` at a time. A 503 (Kafka did not acknowledge in time) is retried after its
``Retry-After``, at most :data:`MAX_ATTEMPTS` times in all. httpx is imported lazily to keep
``--help`` fast.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer

from consumers.groups.streaks.days import zone
from core.errors import ConfigError
from core.exit_codes import ExitCode, exit_codes_help
from devstack.demo import (
    DEFAULT_REALM,
    MAX_DAYS,
    MAX_MEMBERS,
    MIN_DAYS,
    MIN_MEMBERS,
    DemoEvent,
    demo_history,
)
from dripbridge.config import load_settings
from dripbridge.drip_api import MAX_RETRY_WAIT_S, retry_after_seconds
from dripbridge.send_test import (
    Outcome,
    outcome_of,
    receiver_url,
    signed_headers,
    signing_secret,
)

EPILOG = exit_codes_help(
    [ExitCode.OK, ExitCode.USAGE, ExitCode.CONFIG, ExitCode.HTTP_ERROR, ExitCode.UNREACHABLE]
)

MAX_IN_FLIGHT = 16
"""Requests awaiting an answer at once: enough to fill the producer's batches, not a flood."""
MAX_ATTEMPTS = 5
"""Posts of one body answered 503 before it counts as refused."""


@dataclass
class Tally:
    """What the receiver made of a history."""

    sent: int = 0
    accepted: int = 0
    refused: list[Outcome] = field(default_factory=list)
    """Refusals of events meant to be usable: each one is a failure of the run."""
    unusable_refused: int = 0

    def summary(self, realm: str, url: str) -> str:
        return (
            f"realm {realm}: sent {self.sent} event(s) to {url}: {self.accepted} accepted, "
            f"{len(self.refused) + self.unusable_refused} refused"
        )


async def _post(client: httpx.AsyncClient, url: str, body: bytes, secret: bytes) -> Outcome:
    """POST one signed body, again after each 503's Retry-After, up to MAX_ATTEMPTS in all."""

    for _ in range(MAX_ATTEMPTS - 1):
        response = await client.post(url, content=body, headers=signed_headers(body, secret))
        if response.status_code != 503:
            return outcome_of(response, body)
        wait = retry_after_seconds(response.headers.get("Retry-After"), datetime.now(UTC))
        await asyncio.sleep(min(wait, MAX_RETRY_WAIT_S))
    response = await client.post(url, content=body, headers=signed_headers(body, secret))
    return outcome_of(response, body)


async def send_history(
    events: Iterable[DemoEvent],
    url: str,
    secret: bytes,
    timeout_s: float,
    in_flight: int = MAX_IN_FLIGHT,
) -> Tally:
    """Sign and POST every event, ``in_flight`` at a time; transport errors propagate."""

    tally = Tally()
    queue: Iterator[DemoEvent] = iter(events)

    async def worker(client: httpx.AsyncClient) -> None:
        # Workers share one iterator: each takes the next event when its answer is in.
        for item in queue:
            body = json.dumps(item.event, ensure_ascii=False).encode("utf-8")
            tally.sent += 1
            outcome = await _post(client, url, body, secret)
            if outcome.ok:
                tally.accepted += 1
            elif item.unusable:
                tally.unusable_refused += 1
            else:
                tally.refused.append(outcome)

    limits = httpx.Limits(max_connections=in_flight)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        try:
            async with asyncio.TaskGroup() as workers:
                for _ in range(in_flight):
                    workers.create_task(worker(client))
        except ExceptionGroup as group:
            # A failing worker cancels the others; its error is the one worth reporting.
            raise group.exceptions[0] from None
    return tally


def demo_command(
    realm: Annotated[
        str, typer.Option(metavar="REALM_ID", help="Realm id of the history.")
    ] = DEFAULT_REALM,
    members: Annotated[
        int,
        typer.Option(
            min=MIN_MEMBERS, max=MAX_MEMBERS, metavar="N", help="Members, member-1 to member-N."
        ),
    ] = 25,
    days: Annotated[
        int,
        typer.Option(min=MIN_DAYS, max=MAX_DAYS, metavar="N", help="Calendar days, ending today."),
    ] = 42,
    seed: Annotated[
        int, typer.Option(metavar="N", help="Same seed, same history (its times end now).")
    ] = 1,
    url: Annotated[
        str | None,
        typer.Option(
            metavar="URL", help="Receiver URL; default: from DRIP_HTTP_HOST and DRIP_HTTP_PORT."
        ),
    ] = None,
) -> None:
    """Send a realm's signed history, up to now, so the README's SQL queries return rows.

    Members join (some leave), complete the daily quest (member-1's streak includes today),
    earn XP and buy store items, and send one custom event. One points award has no member id
    on purpose: the receiver takes it and the leaderboard group makes it a dead letter.
    Each run adds a new history (its times end at the moment it runs).

    At most 16 requests are in flight; a 503 is posted again after its Retry-After, 5 posts
    in all. Prints one line: events sent, accepted, refused.
    """

    settings = load_settings()
    secret = signing_secret(settings)
    try:
        calendar = zone(settings.streak_timezone)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.CONFIG) from None
    history = demo_history(
        realm=realm, members=members, days=days, seed=seed, now=datetime.now(UTC), tz=calendar
    )
    target = url or receiver_url(settings)
    try:
        tally = asyncio.run(
            send_history(history, target, secret, timeout_s=settings.publish_timeout_s + 5)
        )
    except httpx.HTTPError as exc:
        typer.echo(
            f"error: no answer from the receiver at {target} ({type(exc).__name__}: {exc}); "
            "is `drip-bridge serve` running there?",
            err=True,
        )
        raise typer.Exit(ExitCode.UNREACHABLE) from None
    typer.echo(tally.summary(realm, target))
    if tally.refused:
        first = tally.refused[0]
        hint = (
            "; a 401 means the receiver's DRIP_WEBHOOK_SECRETS lacks the first secret set here"
            if any(o.status == 401 for o in tally.refused)
            else ""
        )
        typer.echo(
            f"error: the receiver refused {len(tally.refused)} event(s), the first "
            f"{first.event_type} id={first.identity} with HTTP {first.status}: "
            f"{first.answer or '(empty)'}{hint}",
            err=True,
        )
        raise typer.Exit(ExitCode.HTTP_ERROR)
