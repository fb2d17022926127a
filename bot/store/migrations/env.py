"""Alembic's environment: migrations run on the connection ``bot.store.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from bot.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
