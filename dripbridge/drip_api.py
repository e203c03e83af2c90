"""Client of DRIP's webhook management API: create, list, update and delete registrations.

Requests go to ``<DRIP_API_BASE_URL><DRIP_WEBHOOKS_PATH>`` with ``Authorization: Bearer
<DRIP_API_KEY>``. Every failure becomes one :class:`DripApiError` subclass whose message tells
the operator what to check and whose ``exit_code`` the CLI exits with. A 429 is retried after
the Retry-After DRIP asks for, at most ``DRIP_API_MAX_RETRIES`` times; nothing else is retried,
because a create that failed with a 5xx may still have been stored.

The API key lives in a SecretStr and in the client's default headers only; it is never part of
a message, a log line or a repr. DRIP may echo a secret back (in an error body, a URL, a JSON
field), so every message and log line passes :meth:`DripApi.redact`, which masks each form of
the key and of every webhook secret this session knows (configured, sent, or seen in answers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from core.errors import ConfigError, DripApiError
from core.exit_codes import ExitCode
from core.settings import Settings
from dripbridge.redact import redact, secret_values

log = logging.getLogger(__name__)

MAX_RETRY_WAIT_S = 60.0
"""A longer Retry-After is not waited out: the command exits and says when to try again."""
_DEFAULT_RETRY_WAIT_S = 1.0
_EXCERPT_CHARS = 200
"""Most characters of DRIP's error answer quoted in a message."""


class _Failure(DripApiError):
    code: ClassVar[ExitCode] = ExitCode.FAILED

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status, exit_code=self.code)


class DripAuthError(_Failure):
    """DRIP refused the API key (401/403)."""

    code = ExitCode.AUTH


class DripNotFound(_Failure):
    """The realm or the webhook does not exist (404)."""

    code = ExitCode.NOT_FOUND


class DripRateLimited(_Failure):
    """DRIP still answered 429 after the allowed retries."""

    code = ExitCode.RATE_LIMITED


class DripHttpError(_Failure):
    """Any other error answer, or an answer that is not the JSON expected."""

    code = ExitCode.HTTP_ERROR


class DripUnreachable(_Failure):
    """No answer: connection refused or dropped, DNS failure, timeout."""

    code = ExitCode.UNREACHABLE


def retry_after_seconds(value: str | None, now: datetime) -> float:
    """Seconds to wait per a Retry-After header (delta-seconds or HTTP-date); 1 s if unusable."""
    if value is None or not value.strip():
        return _DEFAULT_RETRY_WAIT_S
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return _DEFAULT_RETRY_WAIT_S
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _required(settings: Settings) -> tuple[str, str]:
    key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
    realm = settings.realm_id or ""
    missing = [
        name for name, value in (("DRIP_API_KEY", key), ("DRIP_REALM_ID", realm)) if not value
    ]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} not set: export the API key and the realm id of your DRIP "
            "realm (DRIP's admin shows both) before managing webhooks"
        )
    return key, realm


class DripApi:
    """One authenticated session with DRIP's webhook endpoints of one realm."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        key, self.realm_id = _required(settings)
        try:
            path = settings.webhooks_path.format(realm_id=quote(self.realm_id, safe=""))
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"DRIP_WEBHOOKS_PATH {settings.webhooks_path!r} is not usable: the only "
                "placeholder allowed is {realm_id}"
            ) from exc
        self.collection_url = settings.api_base_url.rstrip("/") + "/" + path.lstrip("/")
        self._timeout = settings.api_timeout_s
        self._max_retries = settings.api_max_retries
        self._sleep = sleep
        self._key = SecretStr(key)
        self._webhook_secrets: set[SecretStr] = set(settings.webhook_secrets)
        self._client = httpx.Client(
            timeout=settings.api_timeout_s,
            transport=transport,
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"DripApi(collection_url={self.collection_url!r})"

    def __enter__(self) -> DripApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def redact(self, text: str, *, webhook_secrets: bool = True) -> str:
        """``text`` with every form of the API key and of every webhook secret this session
        knows (configured, sent, or seen in DRIP's answers) masked; ``webhook_secrets=False``
        masks the API key alone, for an operator who asked to see the webhook secrets."""
        known = [self._key, *self._webhook_secrets] if webhook_secrets else [self._key]
        return redact(text, (s.get_secret_value() for s in known))

    def _learn(self, secrets: set[str]) -> None:
        self._webhook_secrets |= {SecretStr(s) for s in secrets}

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    # --- the four calls -------------------------------------------------------------------

    def create_webhook(self, url: str, events: list[str], secret: str) -> dict[str, Any]:
        """Register ``url`` for ``events``; DRIP signs deliveries with ``secret``."""
        body = {"url": url, "events": events, "secret": secret}
        self._learn({secret})
        return _one(self._call("POST", self.collection_url, body, what=f"realm {self.realm_id}"))

    def list_webhooks(self) -> list[dict[str, Any]]:
        """Every webhook of the realm (DRIP answers ``{"data": [...]}``; a bare list is fine)."""
        payload = self._call("GET", self.collection_url, None, what=f"realm {self.realm_id}")
        found = payload.get("data") if isinstance(payload, Mapping) else payload
        self._learn(secret_values(found))
        if not isinstance(found, list) or not all(isinstance(w, Mapping) for w in found):
            raise DripHttpError(
                "DRIP's webhook list was not a list of objects; check DRIP_API_BASE_URL",
            )
        return [dict(w) for w in found]

    def update_webhook(self, webhook_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change the given fields of one webhook; returns it as DRIP answers it."""
        self._learn(secret_values(dict(changes)))
        return _one(
            self._call("PATCH", self._item(webhook_id), dict(changes), what=f"webhook {webhook_id}")
        )

    def delete_webhook(self, webhook_id: str) -> None:
        """Remove one webhook; DRIP stops delivering to its URL."""
        self._call("DELETE", self._item(webhook_id), None, what=f"webhook {webhook_id}")

    # --- plumbing ---------------------------------------------------------------------------

    def _item(self, webhook_id: str) -> str:
        return f"{self.collection_url}/{quote(webhook_id, safe='')}"

    def _call(self, method: str, url: str, body: dict[str, Any] | None, *, what: str) -> Any:
        for attempt in range(self._max_retries + 1):
            response = self._send(method, url, body)
            log.debug("%s", self.redact(f"{method} {url} -> HTTP {response.status_code}"))
            if response.status_code != 429:
                break
            wait = retry_after_seconds(response.headers.get("Retry-After"), datetime.now(UTC))
            if attempt == self._max_retries or wait > MAX_RETRY_WAIT_S:
                raise DripRateLimited(
                    self.redact(
                        f"DRIP is rate-limiting {method} {url} "
                        f"(HTTP 429, {attempt + 1} attempt(s)); "
                        f"try again {f'in {wait:.0f} s' if wait >= 1 else 'in a moment'}"
                    ),
                    status=429,
                )
            log.debug("rate-limited; waiting %.1f s as Retry-After asks", wait)
            self._sleep(wait)
        if response.is_success:
            payload = _json_of(response, method, url) if response.content else {}
            self._learn(secret_values(payload))
            return payload
        raise self._error(response, method, url, what)

    def _send(self, method: str, url: str, body: dict[str, Any] | None) -> httpx.Response:
        try:
            return self._client.request(method, url, json=body)
        except httpx.TimeoutException as exc:
            raise DripUnreachable(
                self.redact(
                    f"DRIP did not answer {method} {url} within {self._timeout:g} s "
                    "(DRIP_API_TIMEOUT_S); check the network, then try again"
                ),
            ) from exc
        except httpx.TransportError as exc:
            raise DripUnreachable(
                self.redact(
                    f"could not reach DRIP for {method} {url} ({type(exc).__name__}: {exc}); "
                    "check DRIP_API_BASE_URL and the network"
                ),
            ) from exc

    def _error(self, response: httpx.Response, method: str, url: str, what: str) -> DripApiError:
        status = response.status_code
        if status in (401, 403):
            return DripAuthError(
                self.redact(
                    f"DRIP refused the API key (HTTP {status} for {method} {url}): check "
                    f"DRIP_API_KEY and that the key may manage webhooks of realm {self.realm_id}"
                ),
                status=status,
            )
        if status == 404:
            ids = (
                "the webhook id (`drip-bridge webhooks list`), "
                if what.startswith("webhook")
                else ""
            )
            return DripNotFound(
                self.redact(
                    f"{what} not found (HTTP 404 for {method} {url}): check {ids}DRIP_REALM_ID "
                    "and DRIP_WEBHOOKS_PATH (some DRIP references spell it "
                    "/realms/{realm_id}/webhooks)"
                ),
                status=status,
            )
        # Masked before it is cut short, so that no cut can leave half a secret unrecognised.
        said = self.redact(_said(response))[:_EXCERPT_CHARS]
        hint = "DRIP's side failed; try again later" if status >= 500 else "the request was refused"
        return DripHttpError(
            self.redact(
                f"DRIP answered HTTP {status} to {method} {url}: {said or '(no details)'} ({hint})"
            ),
            status=status,
        )


def _json_of(response: httpx.Response, method: str, url: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise DripHttpError(
            f"DRIP answered {method} {url} with something that is not JSON; check "
            "DRIP_API_BASE_URL (it should end in /api/v1)",
            status=response.status_code,
        ) from exc


def _one(payload: Any) -> dict[str, Any]:
    # DRIP's guide reads the created webhook as ``result.id``; tolerate a {"data": {...}} wrapper.
    if isinstance(payload, Mapping) and isinstance(payload.get("data"), Mapping):
        payload = payload["data"]
    return dict(payload) if isinstance(payload, Mapping) else {}


def _said(response: httpx.Response) -> str:
    """What DRIP said in an error answer: its message field, else the body on one line."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, Mapping):
        for field in ("message", "error", "detail"):
            if isinstance(payload.get(field), str):
                return str(payload[field])
    return " ".join(response.text.split())
