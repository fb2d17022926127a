"""What every part of the store shares: the engine and its sessions."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


class StoreBase:
    """The engine and session factory the store's parts work through."""

    _engine: Engine
    _sessions: sessionmaker[Session]

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name
