"""Engines, the SQLite file lock, and running blocking store calls off the event loop."""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

P = ParamSpec("P")
R = TypeVar("R")


def utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every moment we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def threaded(method: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run a blocking store method in a worker thread, so callers ``await`` it."""

    @functools.wraps(method)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(method, *args, **kwargs)

    return run


CONNECT_TIMEOUT_SECONDS = 5


def create_database_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite tuned for one process with threads, anything else as given."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A server that does not answer fails a connection in 5 s instead of the OS's minutes: a stop, a
        # readiness check and a scrape then end on time (a URL's own connect_timeout wins).
        connect_args = (
            {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        )
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the bot read while the watcher writes; NORMAL sync is durable across process crashes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class DatabaseInUse(Exception):
    """Another process already uses this SQLite file."""


def lock_sqlite_file(url: str) -> int | None:
    """Hold an exclusive lock on a file beside a SQLite database for the life of the process.

    Two processes on one file would both poll and both post. The lock goes with the process, even when it
    is killed. None for an in-memory database or a server database.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    path = os.path.abspath(parsed.database) + ".lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise DatabaseInUse(
            f"another bot process is already using {parsed.database}; run one process per SQLite file "
            "(several replicas need PostgreSQL)"
        ) from None
    return descriptor
