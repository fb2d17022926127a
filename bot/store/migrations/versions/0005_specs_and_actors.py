"""What changed and who did it: a compact spec of each watched deployment beside its status (no env
value, only a keyed digest of each), the changes a transition carries, and the actor of each episode
from Gcore's audit log.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deployment_states", sa.Column("spec", sa.JSON(), nullable=True))
    op.add_column("transitions", sa.Column("changes", sa.JSON(), nullable=True))
    op.create_table(
        "episode_actors",
        sa.Column("project_id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("episode", sa.BigInteger(), primary_key=True),
        sa.Column("actor", sa.String(254), nullable=True),
        sa.Column("action", sa.String(32), nullable=True),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("looked_up_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("episode_actors")
    with op.batch_alter_table("transitions") as batch:
        batch.drop_column("changes")
    with op.batch_alter_table("deployment_states") as batch:
        batch.drop_column("spec")
