"""Leaderboard: members, point awards, latest balances and the ranked ``leaderboard`` view.

Revision ID: 0002_leaderboard
Revises: 0001_runtime
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_leaderboard"
down_revision: str | Sequence[str] | None = "0001_runtime"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.TIMESTAMP(timezone=True)

# Why a LATERAL over realm_points instead of one RANK() OVER (PARTITION BY realm, point):
# a window without PARTITION BY stops reading as soon as a filter on rank is satisfied
# (PostgreSQL's window run condition), so `WHERE realm_id = $1 AND realm_point_id = $2 AND
# rank <= 100` walks 100 entries of the partial index instead of the realm's million members.
# Display columns are scalar subqueries so that, under ORDER BY ... LIMIT, they are looked up
# only for the rows returned; ranking itself reads nothing but the index.
_VIEW = """
CREATE VIEW leaderboard AS
SELECT k.realm_id,
       k.realm_point_id,
       k.point_name,
       r.rank,
       r.member_id,
       (SELECT m.username FROM members m
         WHERE m.realm_id = k.realm_id AND m.member_id = r.member_id) AS username,
       (SELECT m.display_name FROM members m
         WHERE m.realm_id = k.realm_id AND m.member_id = r.member_id) AS display_name,
       r.balance,
       (SELECT b.as_of FROM member_balances b
         WHERE b.realm_id = k.realm_id AND b.member_id = r.member_id
           AND b.realm_point_id = k.realm_point_id) AS updated_at
FROM realm_points k
CROSS JOIN LATERAL (
    SELECT b.member_id, b.balance,
           rank() OVER (ORDER BY b.balance DESC) AS rank
    FROM member_balances b
    WHERE b.realm_id = k.realm_id AND b.realm_point_id = k.realm_point_id AND b.active
) r
"""

# The top of one realm point, whatever its size. A function so that it can turn JIT off: the
# planner prices the view's window over the whole realm point (it cannot foresee that the rank
# filter stops it after n entries), and PostgreSQL's default JIT then spends a few hundred
# milliseconds compiling a query that runs in about one.
_TOP = """
CREATE FUNCTION leaderboard_top(p_realm_id text, p_realm_point_id text, p_limit int DEFAULT 100)
RETURNS SETOF leaderboard
LANGUAGE sql STABLE
SET jit = off
AS $$
    SELECT * FROM leaderboard
    WHERE realm_id = p_realm_id AND realm_point_id = p_realm_point_id AND rank <= p_limit
    ORDER BY rank
$$
"""


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("realm_id", sa.Text, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("username", sa.Text),
        sa.Column("display_name", sa.Text),
        sa.Column("joined_at", _TS),
        sa.Column("left_at", _TS),
        # Event times of the latest join, leave and username seen: the last-writer-wins guards
        # that make the row independent of the order events arrive in.
        sa.Column("joined_event_at", _TS),
        sa.Column("left_event_at", _TS),
        sa.Column("username_at", _TS),
        sa.Column("last_event_at", _TS, nullable=False),
        sa.Column(
            "active",
            sa.Boolean,
            sa.Computed(
                "left_event_at IS NULL"
                " OR (joined_event_at IS NOT NULL AND left_event_at <= joined_event_at)",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("realm_id", "member_id"),
        # Most events rewrite their member's row; room on the page lets that be a HOT update
        # (no index write), since no indexed column changes.
        postgresql_with={"fillfactor": 80},
    )
    op.create_table(
        "point_awards",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("realm_id", sa.Text, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("realm_point_id", sa.Text, nullable=False),
        sa.Column("point_name", sa.Text),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("new_balance", sa.BigInteger, nullable=False),
        sa.Column("awarded_at", _TS, nullable=False),
    )
    # One row per realm point: what the leaderboard view ranks over, with its latest name.
    op.create_table(
        "realm_points",
        sa.Column("realm_id", sa.Text, nullable=False),
        sa.Column("realm_point_id", sa.Text, nullable=False),
        sa.Column("point_name", sa.Text),
        sa.Column("name_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("realm_id", "realm_point_id"),
    )
    op.create_table(
        "member_balances",
        sa.Column("realm_id", sa.Text, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("realm_point_id", sa.Text, nullable=False),
        sa.Column("point_name", sa.Text),
        sa.Column("balance", sa.BigInteger, nullable=False),
        # Event time and id of the award that set the balance: (as_of, event_id) only grows.
        sa.Column("as_of", _TS, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        # A copy of members.active, so ranking reads one index and joins nothing.
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("applied_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("realm_id", "member_id", "realm_point_id"),
    )
    op.create_index(
        "member_balances_rank_idx",
        "member_balances",
        ["realm_id", "realm_point_id", sa.text("balance DESC")],
        postgresql_include=["member_id"],
        postgresql_where=sa.text("active"),
    )
    op.execute(_VIEW)
    op.execute(_TOP)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS leaderboard_top(text, text, int)")
    op.execute("DROP VIEW IF EXISTS leaderboard")
    op.drop_table("member_balances")
    op.drop_table("realm_points")
    op.drop_table("point_awards")
    op.drop_table("members")
