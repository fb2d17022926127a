"""What every part of the store shares: the engine, its sessions, and whether the database answers."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.store.reach import Reachability


class StoreBase:
    """The engine and session factory the store's parts work through."""

    _engine: Engine
    _sessions: sessionmaker[Session]
    _reach: Reachability

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name
