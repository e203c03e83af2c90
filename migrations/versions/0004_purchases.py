"""Store purchases: one row per purchase id, daily item sales, member spend.

Revision ID: 0004_purchases
Revises: 0003_streaks
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_purchases"
down_revision: str | Sequence[str] | None = "0003_streaks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "purchases",
        sa.Column("purchase_id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("realm_id", sa.Text, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("username", sa.Text),
        sa.Column("item_id", sa.Text, nullable=False),
        sa.Column("item_name", sa.Text),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("completed_at", sa.TIMESTAMP(timezone=True), nullable=False),
    )
    # A member's purchase history, newest first.
    op.create_index(
        "purchases_member_idx",
        "purchases",
        ["realm_id", "member_id", sa.text("completed_at DESC")],
    )
    op.create_table(
        "item_sales_daily",
        sa.Column("realm_id", sa.Text, nullable=False),
        sa.Column("item_id", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("item_name", sa.Text),
        sa.Column("purchases", sa.BigInteger, nullable=False),
        sa.Column("points_spent", sa.BigInteger, nullable=False),
        # Event time of the newest purchase counted; guards item_name against late events.
        sa.Column("last_purchase_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("realm_id", "item_id", "day"),
    )
    # "Best selling items of the last N days": a range of days in one realm.
    op.create_index("item_sales_daily_day_idx", "item_sales_daily", ["realm_id", "day"])
    op.create_table(
        "member_spend",
        sa.Column("realm_id", sa.Text, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("purchases", sa.BigInteger, nullable=False),
        sa.Column("points_spent", sa.BigInteger, nullable=False),
        sa.Column("first_purchase_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("last_purchase_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("realm_id", "member_id"),
    )
    # "Top spenders of a realm"; one member's spend is a primary-key lookup.
    op.create_index(
        "member_spend_top_idx", "member_spend", ["realm_id", sa.text("points_spent DESC")]
    )


def downgrade() -> None:
    op.drop_table("member_spend")
    op.drop_table("item_sales_daily")
    op.drop_table("purchases")
