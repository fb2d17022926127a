"""Engines, the SQLite file lock, and running blocking store calls off the event loop."""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from bot.store.reach import Reachability, does_not_answer

P = ParamSpec("P")
R = TypeVar("R")


def utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every moment we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Reaches(Protocol):
    """A part of the store: it knows whether the database answers."""

    _reach: Reachability


S = TypeVar("S", bound=Reaches)


def threaded(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Run a blocking store method in a worker thread, so callers ``await`` it; a database that does not
    answer raises ``DatabaseUnavailable`` (``bot.store.reach``)."""

    @functools.wraps(method)
    async def run(store: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        asked_at = time.monotonic()
        try:
            result = await asyncio.to_thread(method, store, *args, **kwargs)
        except DBAPIError as error:
            if does_not_answer(error):
                raise store._reach.lost(error) from error
            raise
        store._reach.answered(asked_at)
        return result

    return run


# libpq's bounds on a PostgreSQL connection, each overridden by the URL's own query parameter of that name.
# A server that does not answer fails a connection in 5 s instead of the OS's minutes: a stop, a readiness
# check and a scrape then end on time. A server that vanished without a reset (a host gone, a network cut)
# is noticed within about 15 s rather than the OS's retransmission timeout of a quarter of an hour: an idle
# connection by keepalives (probes after 5 s idle, every 2 s, 3 unanswered: 11 s), one waiting for the
# acknowledgement of what it sent by tcp_user_timeout. Neither cuts a query the server is slow to answer
# (a migration, a wait for a lock): its kernel still acknowledges both. So no statement_timeout either.
POSTGRES_CONNECT_DEFAULTS: dict[str, int] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 12_000,
}


def create_database_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite tuned for one process with threads; anything else as given, with
    libpq's timeouts of ``POSTGRES_CONNECT_DEFAULTS`` where the URL sets none of its own."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args = {
            name: value for name, value in POSTGRES_CONNECT_DEFAULTS.items() if name not in parsed.query
        }
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
