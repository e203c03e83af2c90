"""Runtime tables shared by every consumer group: stored offsets and dead letters.

Revision ID: 0001_runtime
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_runtime"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The next offset to read per (group, topic, partition). It is written in the same
    # transaction as the effects of the records before it, which is what makes effects exact.
    op.create_table(
        "consumer_offsets",
        sa.Column("group_id", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column(
            "updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("group_id", "topic", "partition"),
    )
    # Records a group could not use, kept byte for byte so they can be inspected and replayed.
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("group_id", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.Text),
        sa.Column("event_type", sa.Text),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary),
        sa.Column(
            "created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        # A batch that is read again (after a crash or a replay) adds no second copy.
        sa.UniqueConstraint("group_id", "topic", "partition", "offset", name="dead_letters_record"),
    )
    op.create_index("dead_letters_group_created_idx", "dead_letters", ["group_id", "created_at"])


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("consumer_offsets")
