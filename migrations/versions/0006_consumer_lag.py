"""Consumer lag per partition, as the running groups last measured it, queryable in SQL.

Revision ID: 0006_consumer_lag
Revises: 0005_archive
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_consumer_lag"
down_revision: str | Sequence[str] | None = "0005_archive"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Kafka's end offsets are not visible from SQL, so each running group writes what it sees
    # (its fetch high-water mark against its stored position) every few seconds and when it
    # stops. updated_at says how fresh a row is: a group that is not running leaves old rows.
    op.create_table(
        "consumer_lag",
        sa.Column("group_id", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("end_offset", sa.BigInteger, nullable=False),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column("lag", sa.BigInteger, nullable=False),
        sa.Column(
            "updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("group_id", "topic", "partition"),
    )


def downgrade() -> None:
    op.drop_table("consumer_lag")
