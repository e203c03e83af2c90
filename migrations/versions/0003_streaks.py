"""Quest streaks: completions by event id, the days they count for, per-member runs.

Revision ID: 0003_streaks
Revises: 0002_leaderboard
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_streaks"
down_revision: str | Sequence[str] | None = "0002_leaderboard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quest_completions",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("realm_id", sa.Text, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("quest_id", sa.Text, nullable=False),
        sa.Column("quest_name", sa.Text),
        sa.Column("quest_type", sa.Text),
        sa.Column("completed_at", sa.TIMESTAMP(timezone=True), nullable=False),
        # The calendar day in DRIP_STREAK_TIMEZONE when the event was consumed.
        sa.Column("day", sa.Date, nullable=False),
    )
    op.create_index(
        "quest_completions_member_idx",
        "quest_completions",
        ["realm_id", "member_id", "completed_at"],
    )
    op.create_index(
        "quest_completions_quest_idx", "quest_completions", ["realm_id", "quest_id", "day"]
    )
    op.create_table(
        "quest_days",
        sa.Column("realm_id", sa.Text, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("realm_id", "member_id", "day"),
    )
    op.create_table(
        "quest_streaks",
        sa.Column("realm_id", sa.Text, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("current_streak", sa.Integer, nullable=False),
        sa.Column("longest_streak", sa.Integer, nullable=False),
        sa.Column("last_completed_on", sa.Date, nullable=False),
        sa.Column("total_completions", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("realm_id", "member_id"),
    )
    # "Top current streaks in a realm" and "longest streaks ever".
    op.create_index(
        "quest_streaks_current_idx",
        "quest_streaks",
        ["realm_id", sa.text("current_streak DESC")],
    )
    op.create_index(
        "quest_streaks_longest_idx",
        "quest_streaks",
        ["realm_id", sa.text("longest_streak DESC")],
    )


def downgrade() -> None:
    op.drop_table("quest_streaks")
    op.drop_table("quest_days")
    op.drop_table("quest_completions")
