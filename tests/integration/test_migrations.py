"""The migrations on a real PostgreSQL: identifier collation up and down, with rows in place."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from core.db import alembic_config, migrate
from core.settings import Settings
from tests.databases import scratch_database

pytestmark = pytest.mark.integration

_COLLATIONS = """
SELECT table_name, column_name, coalesce(collation_name, 'default')
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name IN ('members', 'member_balances', 'point_awards')
  AND data_type = 'text'
ORDER BY 1, 2
"""

_SEED = """
INSERT INTO members (realm_id, member_id, username, last_event_at)
VALUES ('r1', 'm-b', 'bee', now()), ('r1', 'm-a', 'ay', now());
INSERT INTO realm_points (realm_id, realm_point_id, point_name, name_at)
VALUES ('r1', 'xp', 'XP', now());
INSERT INTO member_balances (realm_id, member_id, realm_point_id, point_name, balance, as_of,
                             event_id)
VALUES ('r1', 'm-b', 'xp', 'XP', 20, now(), 'e1'), ('r1', 'm-a', 'xp', 'XP', 10, now(), 'e2');
"""


@pytest.fixture
def fresh_db(db_settings: Settings) -> Iterator[Settings]:
    """An empty database of this test alone (no migration applied)."""
    with scratch_database(db_settings, "drip_migrations") as settings:
        yield settings


def _collations(settings: Settings) -> dict[tuple[str, str], str]:
    with psycopg.connect(settings.libpq_url) as conn:
        return {(t, c): coll for t, c, coll in conn.execute(_COLLATIONS).fetchall()}


def _top(settings: Settings) -> list[tuple[object, ...]]:
    with psycopg.connect(settings.libpq_url) as conn:
        return conn.execute(
            "SELECT rank, member_id, username, balance FROM leaderboard_top('r1', 'xp', 10)"
        ).fetchall()


def test_identifier_collation_keeps_rows_and_the_view_both_ways(fresh_db: Settings) -> None:
    migrate(fresh_db, "0006_consumer_lag")
    with psycopg.connect(fresh_db.libpq_url) as conn:
        conn.execute(_SEED)
    expected = [(1, "m-b", "bee", 20), (2, "m-a", "ay", 10)]
    assert _top(fresh_db) == expected

    migrate(fresh_db, "0007_identifier_collation")
    after = _collations(fresh_db)
    assert after[("members", "member_id")] == "C"
    assert after[("point_awards", "event_id")] == "C"
    assert after[("member_balances", "realm_point_id")] == "C"
    # Names shown to people keep the database's collation.
    assert after[("members", "username")] == "default"
    assert after[("member_balances", "point_name")] == "default"
    assert _top(fresh_db) == expected

    command.downgrade(alembic_config(fresh_db), "0006_consumer_lag")
    assert set(_collations(fresh_db).values()) == {"default"}
    assert _top(fresh_db) == expected


_STREAK_SEED = """
INSERT INTO quest_days (realm_id, member_id, day) VALUES
    ('r1', 'm1', '2024-01-01'), ('r1', 'm1', '2024-01-02'), ('r1', 'm1', '2024-01-05'),
    ('r1', 'm2', '2024-02-10');
INSERT INTO quest_streaks (realm_id, member_id, current_streak, longest_streak,
                           last_completed_on, total_completions)
VALUES ('r1', 'm1', 1, 2, '2024-01-05', 4), ('r1', 'm2', 1, 1, '2024-02-10', 1);
"""


def test_streak_days_move_into_ranges_and_back(fresh_db: Settings) -> None:
    migrate(fresh_db, "0007_identifier_collation")
    with psycopg.connect(fresh_db.libpq_url) as conn:
        conn.execute(_STREAK_SEED)

    migrate(fresh_db, "0008_streak_day_ranges")
    with psycopg.connect(fresh_db.libpq_url) as conn:
        rows = conn.execute(
            "SELECT member_id, completed_days::text FROM quest_streaks ORDER BY 1"
        ).fetchall()
        assert rows == [
            ("m1", "{[2024-01-01,2024-01-03),[2024-01-05,2024-01-06)}"),
            ("m2", "{[2024-02-10,2024-02-11)}"),
        ]
        assert conn.execute("SELECT to_regclass('quest_days')").fetchone() == (None,)

    command.downgrade(alembic_config(fresh_db), "0007_identifier_collation")
    with psycopg.connect(fresh_db.libpq_url) as conn:
        days = conn.execute("SELECT member_id, day::text FROM quest_days ORDER BY 1, 2").fetchall()
    assert days == [
        ("m1", "2024-01-01"), ("m1", "2024-01-02"), ("m1", "2024-01-05"), ("m2", "2024-02-10"),
    ]  # fmt: skip
