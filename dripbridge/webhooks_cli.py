"""``drip-bridge webhooks``: register, list, update and delete DRIP webhooks from the shell.

The checks here run before anything is sent: HTTPS only (DRIP's own advice), event names from
the contract (a typo would silently subscribe to nothing), secrets the receiver can use. The
HTTP side lives in :mod:`dripbridge.drip_api`, imported lazily to keep ``--help`` fast.

Everything printed from DRIP's answers passes :meth:`DripApi.redact` (see
:mod:`dripbridge.redact`): secrets are shown only when the operator asks (``list
--show-secrets``), and a secret that ``register`` generated is shown once, on its own line.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.contract import DOCUMENTED_TYPES
from core.errors import ConfigError, DripApiError
from core.exit_codes import ExitCode, exit_codes_help
from core.settings import Settings
from dripbridge.config import load_settings
from dripbridge.drip_api import DripApi
from dripbridge.redact import MASK, mask_secret_fields

EPILOG = exit_codes_help()

webhooks_app = typer.Typer(
    help="Manage this realm's webhook registrations in DRIP (needs DRIP_API_KEY, DRIP_REALM_ID).",
    no_args_is_help=True,
    epilog=EPILOG,
)

UrlOpt = Annotated[
    str, typer.Option("--url", metavar="URL", help="Where DRIP delivers; https:// only.")
]
EventsOpt = Annotated[
    str,
    typer.Option(
        "--events", metavar="TYPE,TYPE...", help="Comma-separated event types, e.g. member.joined."
    ),
]
SecretOpt = Annotated[
    str | None,
    typer.Option(
        "--secret",
        metavar="SECRET",
        help="Signing secret (8+ characters, no commas); default: a new strong one, shown once.",
    ),
]
HttpOpt = Annotated[bool, typer.Option("--allow-http", help="Accept an http:// URL (tests).")]
UnknownOpt = Annotated[
    bool, typer.Option("--allow-unknown-events", help="Accept types not in DRIP's guide.")
]


class _EchoHandler(logging.Handler):
    # Writes through typer.echo so that the line goes to whatever stderr is current.
    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(self.format(record), err=True)


_api_log = logging.getLogger("dripbridge.drip_api")
_api_log.addHandler(_EchoHandler())
_api_log.propagate = False


@webhooks_app.callback()
def _options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each API request (never the key).")
    ] = False,
) -> None:
    _api_log.setLevel(logging.DEBUG if verbose else logging.WARNING)


def _check_url(url: str, allow_http: bool) -> str:
    parts = urlsplit(url)
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        hint = "" if allow_http else " (--allow-http accepts http:// for local tests)"
        raise typer.BadParameter(f"{url!r} is not an https:// URL{hint}", param_hint="--url")
    return url


def _check_events(text: str, allow_unknown: bool) -> list[str]:
    events = list(dict.fromkeys(e.strip() for e in text.split(",") if e.strip()))
    if not events:
        raise typer.BadParameter("name at least one event type", param_hint="--events")
    unknown = [e for e in events if e not in DOCUMENTED_TYPES]
    if unknown and not allow_unknown:
        raise typer.BadParameter(
            f"not in DRIP's guide: {', '.join(unknown)}; documented: "
            f"{', '.join(sorted(DOCUMENTED_TYPES))} (--allow-unknown-events accepts others)",
            param_hint="--events",
        )
    return events


def _check_secret(secret: str) -> str:
    # The receiver reads DRIP_WEBHOOK_SECRETS as a comma-separated, stripped list of >= 8 chars.
    if len(secret) < 8 or "," in secret or secret != secret.strip():
        raise typer.BadParameter(
            "a secret needs 8+ characters, no commas, no surrounding spaces "
            "(DRIP_WEBHOOK_SECRETS could not hold it otherwise)",
            param_hint="--secret",
        )
    return secret


def _remind(settings: Settings, secret: str) -> None:
    if any(s.get_secret_value() == secret for s in settings.webhook_secrets):
        return
    typer.echo(
        "The receiver must know this secret: set DRIP_WEBHOOK_SECRETS to it, or append it "
        "comma-separated (DRIP_WEBHOOK_SECRETS=old,new) while rotating, then restart `serve`."
    )


@contextmanager
def _api() -> Iterator[tuple[DripApi, Settings]]:
    """The settings and an API session; operator errors become a message and an exit code."""

    settings = load_settings()
    try:
        with DripApi(settings) as api:
            yield api, settings
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.CONFIG) from None
    except DripApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


def _yes_no(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else "?"


def _print_table(
    api: DripApi, hooks: Sequence[Mapping[str, Any]], *, show_secrets: bool = False
) -> None:

    def cell(value: object) -> str:
        # Masked before rich lays it out: a wrapped cell could split a secret over two lines.
        return escape(api.redact(str(value), webhook_secrets=not show_secrets))

    columns = ["id", "url", "events", "active", "created"] + (["secret"] if show_secrets else [])
    table = Table(*columns)
    for hook in hooks:
        events = hook.get("events") or []
        row = [
            str(hook.get("id", "?")),
            str(hook.get("url", "")),
            ", ".join(map(str, events)) if isinstance(events, list) else str(events),
            _yes_no(hook.get("active")),
            str(hook.get("createdAt", "")),
        ] + ([str(hook.get("secret", ""))] if show_secrets else [])
        table.add_row(*map(cell, row))
    # Piped output keeps whole ids and URLs on one line, so scripts can grep them.
    Console(width=None if sys.stdout.isatty() else 240).print(table)


@webhooks_app.command(epilog=EPILOG)
def register(
    url: UrlOpt,
    events: EventsOpt,
    secret: SecretOpt = None,
    allow_http: HttpOpt = False,
    allow_unknown_events: UnknownOpt = False,
) -> None:
    """Register a webhook: DRIP will POST the chosen events to --url, signed with the secret."""
    url = _check_url(url, allow_http)
    chosen = _check_events(events, allow_unknown_events)
    generated = secret is None
    secret = secrets.token_urlsafe(32) if secret is None else _check_secret(secret)
    with _api() as (api, settings):
        created = api.create_webhook(url, chosen, secret)
        typer.echo(api.redact(f"registered webhook {created.get('id', '(DRIP returned no id)')}"))
        _print_table(api, [{"url": url, "events": chosen, "active": True} | created])
        if generated:  # the one place a secret is printed, as the README documents
            typer.echo(f"secret (shown once, store it now): {secret}")
        _remind(settings, secret)


@webhooks_app.command("list", epilog=EPILOG)
def list_(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print DRIP's objects as JSON (for scripts).")
    ] = False,
    show_secrets: Annotated[
        bool,
        typer.Option(
            "--show-secrets",
            help=f"Show the webhooks' signing secrets; otherwise they read {MASK}. "
            "The API key is never shown.",
        ),
    ] = False,
) -> None:
    """List the realm's webhooks: id, URL, events, whether active (secrets hidden)."""
    with _api() as (api, settings):
        hooks = api.list_webhooks()
        if as_json:
            shown = hooks if show_secrets else mask_secret_fields(hooks)
            text = json.dumps(shown, indent=2, ensure_ascii=False)
            typer.echo(api.redact(text, webhook_secrets=not show_secrets))
        elif not hooks:
            typer.echo(api.redact(f"no webhooks registered for realm {settings.realm_id}"))
        else:
            _print_table(api, hooks, show_secrets=show_secrets)


@webhooks_app.command(epilog=EPILOG)
def update(
    webhook_id: Annotated[str, typer.Argument(metavar="ID", help="From `webhooks list`.")],
    url: Annotated[
        str | None, typer.Option("--url", metavar="URL", help="New URL; https:// only.")
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            metavar="TYPE,TYPE...",
            help="New comma-separated event types (replaces the old list).",
        ),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret", metavar="SECRET", help="New signing secret (8+ characters, no commas)."
        ),
    ] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Resume or pause deliveries.")
    ] = None,
    allow_http: HttpOpt = False,
    allow_unknown_events: UnknownOpt = False,
) -> None:
    """Change a webhook's URL, events, secret or active flag (only what is given)."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = _check_url(url, allow_http)
    if events is not None:
        changes["events"] = _check_events(events, allow_unknown_events)
    if secret is not None:
        changes["secret"] = _check_secret(secret)
    if active is not None:
        changes["active"] = active
    if not changes:
        raise typer.BadParameter("give at least one of --url, --events, --secret, --active")
    with _api() as (api, settings):
        updated = api.update_webhook(webhook_id, changes)
        typer.echo(api.redact(f"updated webhook {webhook_id}: {', '.join(changes)}"))
        _print_table(api, [{"id": webhook_id} | changes | updated])
        if secret is not None:
            _remind(settings, secret)


@webhooks_app.command(epilog=EPILOG)
def delete(
    webhook_id: Annotated[str, typer.Argument(metavar="ID", help="From `webhooks list`.")],
) -> None:
    """Delete a webhook: DRIP stops delivering to its URL."""
    with _api() as (api, _):
        api.delete_webhook(webhook_id)
        typer.echo(api.redact(f"deleted webhook {webhook_id}"))
