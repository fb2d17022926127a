"""Database URLs for tests: a fresh SQLite file, or a fresh schema in the machine's PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from bot.store import LEADER_LOCK_KEY

# Overridable for machines whose PostgreSQL lives elsewhere.
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used here, or None when a server answers."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"no PostgreSQL server answers at {POSTGRES_URL.split('@')[-1]} ({type(error).__name__})"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A SQLAlchemy URL whose connections use a new, empty schema, dropped afterwards; the calling test
    skips, saying why, where no PostgreSQL server answers."""
    problem = postgres_problem()
    if problem:
        pytest.skip(problem)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def sqlite_url(directory: Path) -> str:
    """A SQLAlchemy URL of a new SQLite file in ``directory``."""
    return f"sqlite:///{directory / f'bot-{uuid.uuid4().hex[:8]}.db'}"


def leader_pid() -> int | None:
    """The PostgreSQL session that holds the bot's leader lock, if one does."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        row = connection.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = %s",
            (LEADER_LOCK_KEY,),
        ).fetchone()
    return int(row[0]) if row else None


def terminate_leader_session() -> int:
    """End the PostgreSQL session that holds the bot's leader lock, as an operator or a failover would;
    the number of sessions ended."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        ended = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
            (LEADER_LOCK_KEY,),
        ).fetchall()
    return len(ended)
