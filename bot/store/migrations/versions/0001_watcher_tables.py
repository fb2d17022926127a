"""The watcher's tables as commit 56bd510 made them with create_all: episode ids as INTEGER.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("only_problems", sa.Boolean(), nullable=False),
        sa.Column("flat", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_reason", sa.String(64), nullable=True),
        sa.UniqueConstraint("channel_id", "project_id", "target"),
    )
    op.create_table(
        "deployment_states",
        sa.Column("project_id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("unsettled_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stuck_alerted", sa.Boolean(), nullable=False),
        sa.Column("problem", sa.Boolean(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("episode_open", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "project_health",
        sa.Column("project_id", sa.Integer(), primary_key=True),
        sa.Column("baseline_done", sa.Boolean(), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("outage_notified", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "transitions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_status", sa.String(64), nullable=True),
        sa.Column("new_status", sa.String(64), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=True),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("problem", sa.Boolean(), nullable=False),
        sa.Column("recovery", sa.Boolean(), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("flap_count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("transition_id", sa.Integer(), sa.ForeignKey("transitions.id"), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("flat", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("transition_id", "channel_id"),
    )
    op.create_index("ix_deliveries_state", "deliveries", ["state"])
    op.create_table(
        "threads",
        sa.Column("channel_id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("episode", sa.Integer(), primary_key=True),
        sa.Column("purpose", sa.String(16), primary_key=True),
        sa.Column("ts", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "threads",
        "deliveries",
        "transitions",
        "project_health",
        "deployment_states",
        "subscriptions",
    ):
        op.drop_table(table)
