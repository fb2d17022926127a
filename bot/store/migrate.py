"""Schema migrations with Alembic: the bot upgrades its database at start, under a lock, and operators can
run ``python -m bot db upgrade`` / ``python -m bot db current`` as a separate step.

A database made before migrations existed (by ``create_all``) has tables but no ``alembic_version``: it is
stamped with the first revision, the schema those versions made, and upgraded from there. An empty
database gets today's tables in one step and is stamped with the newest revision, as Alembic's cookbook
advises: replaying every revision would cost each new database (and each test) a rebuild of the tables
that 0002 retypes. ``tests/test_migrations.py`` replays them and checks they make the same tables.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine

from bot.store.leadership import LOCK_SCOPE, MIGRATION_LOCK_CLASS
from bot.store.schema import Base

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_REVISION = "0001"


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration, running the revisions on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def scripts() -> ScriptDirectory:
    """The revisions this code knows, read from their files once a process (each read runs every one)."""
    return ScriptDirectory(str(MIGRATIONS))


def head() -> str:
    """The newest revision this code knows."""
    revision = scripts().get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision; None for an empty database, or one made before migrations."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the database to the newest revision, once even when replicas start together; the revision."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held to the end of this transaction: a second replica waits, then finds nothing to do.
            connection.execute(
                text(f"SELECT pg_advisory_xact_lock(:class, {LOCK_SCOPE})"), {"class": MIGRATION_LOCK_CLASS}
            )
        context = MigrationContext.configure(connection)
        before = context.get_current_revision()
        newest = head()
        if before is None and not inspect(connection).has_table("subscriptions"):
            log.info("creating the tables of revision %s in an empty database", newest)
            Base.metadata.create_all(connection)
            context.stamp(scripts(), newest)
            return newest
        if before is None:
            log.info("database made before migrations; stamping it %s before upgrading", FIRST_REVISION)
            context.stamp(scripts(), FIRST_REVISION)
            before = FIRST_REVISION
        if before != newest:
            log.info("upgrading the database from %s to %s", before or "empty", newest)
            command.upgrade(alembic_config(connection), "head")
        return newest
