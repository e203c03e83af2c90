"""How the leaderboard view answers "top 100 of a realm point" with a million members.

    python -m bench.leaderboard_plan [--members N]

Builds a fresh database by the migrations, fills one realm point with N members (5% of them
inactive) plus 50 small realms, and prints EXPLAIN ANALYZE and the best of five timings for:

- ``... AND rank <= 100 ORDER BY rank``: the window stops after the top 100 index entries;
- ``... ORDER BY rank LIMIT 100``: PostgreSQL cannot tell that rank follows the index, so it
  ranks the whole realm point (from the index alone) before it keeps 100 rows;
- ``leaderboard_top('big', 'xp')``: the first form in a function that turns JIT off.

each with JIT on (PostgreSQL's default) and off.
"""

from __future__ import annotations

import argparse
import time
import uuid

import psycopg
from psycopg import sql

from core.db import migrate
from core.settings import Settings

_FILL = """
INSERT INTO members (realm_id, member_id, username, display_name, joined_at, joined_event_at,
                     left_event_at, last_event_at)
SELECT 'big', 'm' || g, 'user' || g, 'Member ' || g, now(), now() - interval '1 day',
       CASE WHEN g % 20 = 0 THEN now() END, now()
FROM generate_series(1, {n}) g;
INSERT INTO members (realm_id, member_id, username, last_event_at)
SELECT 'small-' || (g % 50), 'm' || g, 'user' || g, now() FROM generate_series(1, 100000) g;
INSERT INTO member_balances (realm_id, member_id, realm_point_id, point_name, balance, as_of,
                             event_id, active)
SELECT 'big', 'm' || g, 'xp', 'XP', (random() * 1000000)::bigint, now(), 'e' || g, g % 20 <> 0
FROM generate_series(1, {n}) g;
INSERT INTO member_balances (realm_id, member_id, realm_point_id, point_name, balance, as_of,
                             event_id)
SELECT 'small-' || (g % 50), 'm' || g, 'xp', 'XP', (random() * 1000000)::bigint, now(), 'f' || g
FROM generate_series(1, 100000) g;
INSERT INTO realm_points (realm_id, realm_point_id, point_name, name_at)
SELECT DISTINCT realm_id, realm_point_id, point_name, now() FROM member_balances;
"""

QUERIES = {
    "leaderboard_top('big', 'xp')": "SELECT * FROM leaderboard_top('big', 'xp')",
    "rank <= 100": "SELECT * FROM leaderboard WHERE realm_id = 'big' AND realm_point_id = 'xp'"
    " AND rank <= 100 ORDER BY rank",
    "ORDER BY rank LIMIT 100": "SELECT * FROM leaderboard WHERE realm_id = 'big'"
    " AND realm_point_id = 'xp' ORDER BY rank LIMIT 100",
}


def main(members: int) -> None:
    base = Settings()
    name = f"drip_plan_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base.libpq_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    head, _, _ = base.sync_database_url.rpartition("/")
    settings = base.model_copy(update={"database_url": f"{head}/{name}"})
    try:
        migrate(settings)
        with psycopg.connect(settings.libpq_url, autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute(sql.SQL(_FILL).format(n=sql.Literal(members)))
            conn.execute("VACUUM ANALYZE")
            print(f"{members:,} members in one realm point, filled in "
                  f"{time.perf_counter() - started:.1f} s\n")  # fmt: skip
            for jit in ("on", "off"):
                conn.execute(sql.SQL("SET jit = {}").format(sql.Literal(jit)))
                for label, query in QUERIES.items():
                    plan = conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + query).fetchall()
                    best = min(_timed(conn, query) for _ in range(5))
                    print(f"== {label} (jit {jit}): best of 5 {best * 1000:.1f} ms")
                    print("\n".join(row[0] for row in plan), end="\n\n")
    finally:
        with psycopg.connect(base.libpq_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _timed(conn: psycopg.Connection[object], query: str) -> float:
    started = time.perf_counter()
    rows = conn.execute(query).fetchall()
    assert len(rows) >= 100
    return time.perf_counter() - started


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    main(parser.parse_args().members)
