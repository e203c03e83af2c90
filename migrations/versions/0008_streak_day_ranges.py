"""Each member's quest days live in their streak row, as runs of days (``datemultirange``).

``quest_days`` kept one row per (realm, member, day). Every batch inserted the new days into it
and, for a day earlier than the member's last, read all of the member's days back to rebuild the
runs: a heap row, an index entry and two index scans per completion. A ``datemultirange``
merges adjacent days into one range by itself, so the runs are the ranges: a late day that fills
a gap joins two ranges, and the streaks are read off the ranges of one value in the row the
batch updates anyway. Operators can read the runs too: ``SELECT unnest(completed_days)``.

The days move into ``quest_streaks.completed_days``; ``quest_days`` is dropped. Needs
PostgreSQL 14 or later (multiranges). Stop the streaks group before migrating: a process of the
previous release still writes ``quest_days``, and the migration rewrites every streak row.

Revision ID: 0008_streak_day_ranges
Revises: 0007_identifier_collation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_streak_day_ranges"
down_revision: str | Sequence[str] | None = "0007_identifier_collation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "quest_streaks",
        sa.Column(
            "completed_days",
            postgresql.DATEMULTIRANGE,
            nullable=False,
            server_default=sa.text("'{}'::datemultirange"),
        ),
    )
    op.execute(
        """
        UPDATE quest_streaks s SET completed_days = d.days
        FROM (
            SELECT realm_id, member_id, range_agg(daterange(day, day, '[]')) AS days
            FROM quest_days GROUP BY realm_id, member_id
        ) d
        WHERE s.realm_id = d.realm_id AND s.member_id = d.member_id
        """
    )
    op.drop_table("quest_days")


def downgrade() -> None:
    op.create_table(
        "quest_days",
        sa.Column("realm_id", sa.Text(collation="C"), nullable=False),
        sa.Column("member_id", sa.Text(collation="C"), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("realm_id", "member_id", "day"),
    )
    op.execute(
        """
        INSERT INTO quest_days (realm_id, member_id, day)
        SELECT s.realm_id, s.member_id, d::date
        FROM quest_streaks s
        CROSS JOIN unnest(s.completed_days) AS r
        CROSS JOIN generate_series(lower(r), upper(r) - 1, interval '1 day') AS d
        """
    )
    op.drop_column("quest_streaks", "completed_days")
