"""Where to say a confirmed Stop or Start was done (``confirmations``): the response_url, kept by the bot
under the confirmation's key instead of in the modal Slack's client holds.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "confirmations",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("response_url", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("confirmations")
