"""Database URLs for tests: a fresh SQLite file, or a fresh schema in the machine's PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from bot.store.leadership import LEADER_LOCK_CLASS, LOCK_SCOPE, PROJECT_SCOPE

# Overridable for machines whose PostgreSQL lives elsewhere.
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _no_answer(error: psycopg.Error) -> str:
    return f"no PostgreSQL server answers at {POSTGRES_URL.split('@')[-1]} ({type(error).__name__})"


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used here, or None when a server answers."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return _no_answer(error)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A SQLAlchemy URL whose connections use a new, empty schema, dropped afterwards; the calling test
    skips, saying why, where no PostgreSQL server answers."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    # The connection that creates the schema is the check that a server answers.
    try:
        connection = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        pytest.skip(_no_answer(error))
    with connection:
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


def sqlite_rows(path: Path) -> str:
    """Every row of every table of a SQLite file, as text: to search for what must never be stored."""
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(db.execute(f'SELECT * FROM "{table}"').fetchall()) for table in tables)


def _lock_rows(url: str, select: str, key: tuple[str, str]) -> list[int]:
    """Run ``select`` over the pg_locks rows of the advisory lock ``key`` (two SQL expressions) of the
    schema ``url`` uses."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            query = (
                f"SELECT {select} FROM pg_locks WHERE locktype = 'advisory' AND granted "
                f"AND classid = ({key[0]})::oid AND objid = ({key[1]})::oid AND objsubid = 2"
            )
            return [int(value) for value in connection.execute(text(query)).scalars()]
    finally:
        engine.dispose()


_LEADER = (str(LEADER_LOCK_CLASS), LOCK_SCOPE)
# pg_terminate_backend only signals a session unless given a timeout (PostgreSQL 14+): this waits until the
# session has ended and let its locks go, so a caller's next statement never meets them (as on a loaded
# machine it could); a session not ended by then (false) counts as not ended.
_TERMINATE = "pg_terminate_backend(pid, 10000)::int"


def leader_pid(url: str) -> int | None:
    """The PostgreSQL session that holds the leader lock of the bots on ``url``, if one does."""
    pids = _lock_rows(url, "pid", _LEADER)
    return pids[0] if pids else None


def terminate_leader_session(url: str) -> int:
    """End the PostgreSQL session that holds the leader lock of the bots on ``url``, as an operator or a
    failover would; the number of sessions ended."""
    return sum(_lock_rows(url, _TERMINATE, _LEADER))


def lease_holders(url: str, project_id: int) -> list[int]:
    """The PostgreSQL sessions that hold the lease of a project of the bots on ``url`` (one at most)."""
    return _lock_rows(url, "pid", (PROJECT_SCOPE, str(int(project_id))))


def terminate_lease_holder(url: str, project_id: int) -> int:
    """End the PostgreSQL session that holds a project's lease, as a replica's death would; the number of
    sessions ended."""
    return sum(_lock_rows(url, _TERMINATE, (PROJECT_SCOPE, str(int(project_id)))))
