"""The archive group's table: every event, for ad-hoc SQL over all history.

Revision ID: 0005_archive
Revises: 0004_purchases
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_archive"
down_revision: str | Sequence[str] | None = "0004_purchases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE events (
            -- The contract's event identity: a retried or replayed event is stored once.
            event_id    text PRIMARY KEY,
            type        text NOT NULL,
            realm_id    text,
            -- The event's own timestamp; NULL when it has none (or an unreadable one).
            occurred_at timestamptz,
            received_at timestamptz,
            topic       text NOT NULL,
            "partition" integer NOT NULL,
            "offset"    bigint NOT NULL,
            payload     jsonb NOT NULL
        )
        """
    )
    # "Events of one type over a period" and "one realm's history", the usual ad-hoc queries.
    op.execute("CREATE INDEX events_type_occurred_at ON events (type, occurred_at)")
    op.execute("CREATE INDEX events_realm_occurred_at ON events (realm_id, occurred_at)")


def downgrade() -> None:
    op.execute("DROP TABLE events")
