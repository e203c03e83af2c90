"""Identifier columns compare byte by byte (``COLLATE "C"``).

Realm, member, event, quest, item, purchase and realm point ids are opaque strings that DRIP
chose; nobody sorts them alphabetically. Under the database's linguistic collation (en_US.utf8
in the official image, C.UTF-8 from Debian's initdb) every key comparison in their indexes went
through ``strcoll``, and those comparisons were the largest single cost of the consumer groups'
upserts: catch-up ran 25-45 % faster per group once the keys compared with ``memcmp``. Names
shown to people (usernames, item and quest names) keep the database's collation.

Only indexes are rebuilt (a collation change needs no table rewrite), but each table is locked
while its indexes are: stop the consumer groups before migrating a large database.

Revision ID: 0007_identifier_collation
Revises: 0006_consumer_lag
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_identifier_collation"
down_revision: str | Sequence[str] | None = "0006_consumer_lag"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IDENTIFIERS: dict[str, tuple[str, ...]] = {
    "consumer_offsets": ("group_id", "topic"),
    "consumer_lag": ("group_id", "topic"),
    "dead_letters": ("group_id", "topic", "event_id", "event_type"),
    "members": ("realm_id", "member_id"),
    "point_awards": ("event_id", "realm_id", "member_id", "realm_point_id"),
    "realm_points": ("realm_id", "realm_point_id"),
    "member_balances": ("realm_id", "member_id", "realm_point_id", "event_id"),
    "quest_completions": ("event_id", "realm_id", "member_id", "quest_id"),
    "quest_days": ("realm_id", "member_id"),
    "quest_streaks": ("realm_id", "member_id"),
    "purchases": ("purchase_id", "event_id", "realm_id", "member_id", "item_id"),
    "item_sales_daily": ("realm_id", "item_id"),
    "member_spend": ("realm_id", "member_id"),
    "events": ("event_id", "type", "realm_id", "topic"),
}

# PostgreSQL cannot change the type of a column that a view reads, so the leaderboard view and
# the function returning its rows are dropped and created again from their own definitions.
_SAVE_DEFINITIONS = """
SELECT 'CREATE VIEW leaderboard AS ' || pg_get_viewdef('leaderboard'::regclass),
       pg_get_functiondef('leaderboard_top'::regproc)
"""


def _collate(collation: str) -> None:
    bind = op.get_bind()
    view, function = bind.exec_driver_sql(_SAVE_DEFINITIONS).one()
    op.execute("DROP FUNCTION leaderboard_top")
    op.execute("DROP VIEW leaderboard")
    for table, columns in IDENTIFIERS.items():
        changes = ", ".join(f'ALTER COLUMN {c} TYPE text COLLATE "{collation}"' for c in columns)
        op.execute(f"ALTER TABLE {table} {changes}")
    op.execute(view)
    op.execute(function)


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
