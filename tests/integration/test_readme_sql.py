"""Every SQL query in the README runs against the schema the migrations build."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from core.settings import Settings

pytestmark = pytest.mark.integration

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
QUERIES = [
    query.strip()
    for block in re.findall(r"```sql\n(.*?)```", README, flags=re.DOTALL)
    for query in block.split(";")
    if query.strip()
]


def test_readme_has_queries() -> None:
    assert len(QUERIES) >= 6


@pytest.mark.parametrize("query", QUERIES, ids=[q.split("\n")[0][:40] for q in QUERIES])
def test_query_runs(db_settings: Settings, query: str) -> None:
    with psycopg.connect(db_settings.libpq_url) as conn:
        cursor = conn.execute(query)
        assert cursor.description is not None  # a SELECT with columns
        cursor.fetchall()
