"""Rows sent as JSON come back from PostgreSQL exactly as they were, whatever the session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest

from consumers.api import rows_param, select_rows
from core.settings import Settings

pytestmark = pytest.mark.integration

ROWS = [
    ("a'\"\\\n\t☃😀\x1f", 2**63 - 1, datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)),
    ("", -(2**63), datetime(2, 1, 1, tzinfo=timezone(timedelta(hours=-3)))),
    (None, None, datetime(2024, 6, 1, tzinfo=timezone(timedelta(hours=5, minutes=30, seconds=15)))),
    ("x", 0, None),
]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_utc_round_trip(db_settings: Settings, zone: str) -> None:
    rows = [
        ("a", 1, datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)),
        ("b", 2, datetime(2024, 6, 1, 12, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))),
        ("c", 3, None),
    ]
    with psycopg.connect(db_settings.libpq_url, autocommit=True) as conn:
        conn.execute(f"SET TimeZone TO '{zone}'")
        query = select_rows("t text, n bigint, at timestamptz") + " ORDER BY n"
        got = conn.execute(query, [rows_param(rows)]).fetchall()
    assert [tuple(row) for row in got] == rows
