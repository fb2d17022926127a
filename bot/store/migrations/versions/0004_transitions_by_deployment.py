"""An index on transitions by deployment and episode: every delivery reads what its channel was sent of
the episode so far, and `history` reads a deployment's last episodes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_transitions_deployment", "transitions", ["project_id", "name", "episode"])


def downgrade() -> None:
    op.drop_index("ix_transitions_deployment", table_name="transitions")
