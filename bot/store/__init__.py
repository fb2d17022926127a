"""The watcher's database: subscriptions, last seen states, transitions and their deliveries (an outbox).

SQLAlchemy 2 over an embedded SQLite file by default, PostgreSQL when ``DATABASE_URL`` says so. A poll's new
states, its transitions and one delivery per channel are written in one transaction, before anything is
posted; the notifier then moves each delivery through ``pending → sending → posted → done``. Calls run in a
worker thread so the event loop never waits on the database. One module per aggregate: ``subscriptions``,
``polls``, ``deliveries``, ``history`` (a deployment's past episodes), ``actors`` (who started each
episode), ``audit`` (operators' actions and their refusals), ``confirmations`` (where to say a confirmed
action was done), ``home`` (the Home tab's viewers and what it lists), and ``leadership`` for which
replica polls which project and which one delivers; ``schema`` holds the tables and ``migrations`` every
change to them.
"""

from __future__ import annotations

import os
import threading

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from bot.errors import DatabaseUnavailable
from bot.store.actors import Actors
from bot.store.audit import Audits
from bot.store.confirmations import ResponseUrls
from bot.store.deliveries import Deliveries, DeliveryJob
from bot.store.engine import DatabaseInUse, create_database_engine, lock_sqlite_file, threaded
from bot.store.history import Histories
from bot.store.home import HomeViews
from bot.store.leadership import NotLeader
from bot.store.migrate import current, upgrade
from bot.store.polls import Polls
from bot.store.reach import Reachability
from bot.store.schema import NAME_MAX_CHARS, DeliveryState
from bot.store.subscriptions import Subscriptions

__all__ = [
    "NAME_MAX_CHARS",
    "DatabaseInUse",
    "DeliveryJob",
    "DeliveryState",
    "NotLeader",
    "Store",
]


class Store(Subscriptions, Polls, Deliveries, Histories, Actors, Audits, ResponseUrls, HomeViews):
    """Every read and write of the watcher's state; async methods run in a worker thread."""

    def __init__(self, url: str) -> None:
        self._locks_guard = threading.Lock()
        self._reach = Reachability()
        self._file_lock = lock_sqlite_file(url)
        self._engine = create_database_engine(url)
        self._head = upgrade(self._engine)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    async def ready(self) -> bool:
        """Whether the database answers and is at the newest revision this code knows (``/readyz``)."""
        try:
            return await self._revision() == self._head
        except (DatabaseUnavailable, SQLAlchemyError):
            return False

    @threaded
    def _revision(self) -> str | None:
        return current(self._engine)

    def close(self) -> None:
        """Release this replica's locks and every pooled connection."""
        self._drop_locks()
        self._engine.dispose()
        if self._file_lock is not None:
            os.close(self._file_lock)
            self._file_lock = None
