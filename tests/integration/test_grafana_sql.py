"""Every SQL query of the Grafana dashboard runs against the schema the migrations build."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from core.settings import Settings

pytestmark = pytest.mark.integration

DASHBOARD: dict[str, Any] = json.loads(
    (
        Path(__file__).resolve().parents[2] / "monitoring/grafana/dashboards/drip-bridge.json"
    ).read_text()
)
VARIABLES = {v["name"]: v["query"] for v in DASHBOARD["templating"]["list"]}
PANEL_SQL = [t["rawSql"] for p in DASHBOARD["panels"] for t in p["targets"] if "rawSql" in t]
CHOSEN = {"realm": "grafana-realm", "point": "gold"}


def _bound(sql: str, values: dict[str, str]) -> str:
    """The query as Grafana sends it: ``${name:sqlstring}`` becomes a quoted SQL string."""
    unknown = set(re.findall(r"\$\{?(\w+)", sql)) - set(values)
    assert not unknown, f"variables nobody defines: {unknown}"
    quoted = {k: "'" + v.replace("'", "''") + "'" for k, v in values.items()}
    return re.sub(r"\$\{(\w+):sqlstring\}", lambda m: quoted[m.group(1)], sql)


def _seed(conn: psycopg.Connection[Any], members: int) -> None:
    conn.execute(
        "INSERT INTO realm_points (realm_id, realm_point_id, point_name, name_at) "
        "VALUES (%s, %s, 'Gold', now())",
        (CHOSEN["realm"], CHOSEN["point"]),
    )
    for n in range(1, members + 1):
        conn.execute(
            "INSERT INTO members (realm_id, member_id, username, last_event_at) "
            "VALUES (%s, %s, %s, now())",
            (CHOSEN["realm"], f"m-{n}", f"user-{n}"),
        )
        conn.execute(
            "INSERT INTO member_balances (realm_id, member_id, realm_point_id, point_name, "
            "balance, as_of, event_id) VALUES (%s, %s, %s, 'Gold', %s, now(), %s)",
            (CHOSEN["realm"], f"m-{n}", CHOSEN["point"], n * 10, f"evt-{n}"),
        )


def test_the_dashboard_has_sql() -> None:
    assert PANEL_SQL and set(VARIABLES) == set(CHOSEN)


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_variable_query_runs(db_settings: Settings, name: str) -> None:
    with psycopg.connect(db_settings.libpq_url) as conn:
        _seed(conn, members=3)
        rows = conn.execute(_bound(VARIABLES[name], CHOSEN)).fetchall()
        assert CHOSEN[name] in [row[0] for row in rows]
        conn.rollback()


@pytest.mark.parametrize("sql", PANEL_SQL)
def test_leaderboard_panel_shows_the_top_ten(db_settings: Settings, sql: str) -> None:
    with psycopg.connect(db_settings.libpq_url) as conn:
        _seed(conn, members=12)
        cursor = conn.execute(_bound(sql, CHOSEN))
        assert cursor.description is not None
        columns = [c.name for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        conn.rollback()
    assert [row["rank"] for row in rows] == list(range(1, 11))
    assert [row["balance"] for row in rows] == [n * 10 for n in range(12, 2, -1)]
    assert rows[0]["username"] == "user-12"
