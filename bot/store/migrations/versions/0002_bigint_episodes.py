"""Episode ids are opening times in milliseconds (commit 12bd0f2): BIGINT, or they overflow INTEGER.

SQLite stores any INTEGER in up to 8 bytes already; its tables are still rebuilt (batch mode) so that both
engines declare the same schema.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_EPISODE_COLUMNS = (("deployment_states", "episode"), ("transitions", "episode"), ("threads", "episode"))


def _retype(old: type[sa.Integer], new: type[sa.Integer]) -> None:
    for table, column in _EPISODE_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=new(), existing_type=old(), existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer, sa.BigInteger)


def downgrade() -> None:
    _retype(sa.BigInteger, sa.Integer)
