"""Whether the database answers: a lost connection becomes ``DatabaseUnavailable``, logged once per outage.

A PostgreSQL restart, failover or network cut makes every store call fail until the server is back; each
loop of the bot would otherwise log a traceback per attempt. Only failures that mean "no answer" count:
a connection that could not be made or was lost (SQLSTATE class 08, an administrator's or a crash's
shutdown, or a driver error without a SQLSTATE, which the server never sent), and SQLite's busy or locked
file. Anything else is a bug and stays one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, OperationalError

from bot.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

# The server is shutting down, crashed, or not yet accepting connections.
_SHUTDOWN_STATES = frozenset({"57P01", "57P02", "57P03"})
# sqlite3's SQLITE_BUSY and SQLITE_LOCKED.
_SQLITE_BUSY = frozenset({5, 6})


def does_not_answer(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached, rather than that a statement was wrong."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    sqlite_code = getattr(error.orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        # An extended code (SQLITE_BUSY_SNAPSHOT is 517) carries its primary code in the low byte.
        return sqlite_code & 0xFF in _SQLITE_BUSY
    state = getattr(error.orig, "sqlstate", None)
    return state is None or state.startswith("08") or state in _SHUTDOWN_STATES


class Reachability:
    """The database's answers as the store sees them: the first failure of an outage is a warning, the rest
    are DEBUG lines, and the first answer after it says how long it lasted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None

    def lost(self, error: BaseException) -> DatabaseUnavailable:
        """Note a call the database did not answer; the error to raise in its place."""
        orig = getattr(error, "orig", None) or error
        cause = type(orig).__name__
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = time.monotonic()
        # The driver's first line says why (refused, a password rejected, too many clients); the log
        # formatter masks anything in it that looks like a secret.
        why = (str(orig).splitlines() or [""])[0][:200]
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "the database does not answer (%s: %s); the bot retries on each call",
            cause,
            why,
        )
        return DatabaseUnavailable(cause)

    def answered(self, asked_at: float) -> None:
        """Note a call the database answered, asked at ``asked_at`` (monotonic); the first asked after an
        outage began ends it, and is logged. One asked before it proves nothing about the database now."""
        if self._down_since is None:
            return
        with self._lock:
            since = self._down_since
            if since is None or asked_at < since:
                return
            self._down_since = None
        log.warning("the database answers again after %.1f s", time.monotonic() - since)


@contextlib.contextmanager
def failures_logged(logger: logging.Logger, message: str, *args: object) -> Iterator[None]:
    """Log what a background round raises, with its traceback, and go on; a database that does not answer
    is not logged again, since the store said so once for the outage."""
    try:
        yield
    except DatabaseUnavailable:
        pass
    except Exception:
        logger.exception(message, *args)
