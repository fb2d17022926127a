"""Who a subscription notifies and which deployments an ``--all`` subscription mutes; why and since when a
project's polls fail, and the same on the transitions that tell a channel so.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing subscriptions notify no one and mute nothing.
    op.add_column("subscriptions", sa.Column("notify", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("subscriptions", sa.Column("muted", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("project_health", sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("project_health", sa.Column("failure_reason", sa.String(64), nullable=True))
    op.add_column("transitions", sa.Column("detail", sa.String(64), nullable=True))
    op.add_column("transitions", sa.Column("since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table, column in (
        ("transitions", "since"),
        ("transitions", "detail"),
        ("project_health", "failure_reason"),
        ("project_health", "failing_since"),
        ("subscriptions", "muted"),
        ("subscriptions", "notify"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
