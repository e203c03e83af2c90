"""The pure parts of the DRIP API client, and where the API key may never show up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import ConfigError
from core.settings import Settings
from dripbridge.drip_api import DripApi, retry_after_seconds

NOW = datetime(2024, 1, 20, 15, 30, 0, tzinfo=UTC)
KEY = "drip_sk_live_do_not_print_me"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("Sat, 20 Jan 2024 15:30:30 GMT", 30.0),
        ("Sat, 20 Jan 2024 15:29:00 GMT", 0.0),
        (None, 1.0),
        ("", 1.0),
        ("soon", 1.0),
    ],
)
def test_retry_after_seconds(header: str | None, seconds: float) -> None:
    assert retry_after_seconds(header, NOW) == seconds


@pytest.mark.parametrize(
    ("base", "path", "expected"),
    [
        (
            "https://api.drip.re/api/v1",
            "/realm/{realm_id}/webhooks",
            "/api/v1/realm/r%2F1/webhooks",
        ),
        (
            "https://api.drip.re/api/v1/",
            "realms/{realm_id}/webhooks",
            "/api/v1/realms/r%2F1/webhooks",
        ),
    ],
)
def test_collection_url(base: str, path: str, expected: str) -> None:
    settings = Settings(api_base_url=base, webhooks_path=path, api_key=KEY, realm_id="r/1")

    with DripApi(settings) as api:
        assert api.collection_url == "https://api.drip.re" + expected


def test_the_key_stays_out_of_reprs() -> None:
    settings = Settings(api_key=KEY, realm_id="r1")

    with DripApi(settings) as api:
        assert KEY not in repr(api)
        assert KEY not in repr(api._client.headers)
    assert KEY not in repr(settings)
    assert KEY not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("key", "realm", "named"),
    [(None, "r1", "DRIP_API_KEY"), ("", "r1", "DRIP_API_KEY"), (KEY, None, "DRIP_REALM_ID")],
)
def test_missing_settings_are_named(key: str | None, realm: str | None, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        DripApi(Settings(api_key=key, realm_id=realm))
