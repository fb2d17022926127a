"""Which replica polls and delivers: a PostgreSQL advisory lock, checked before every write that needs it."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from bot.store.base import StoreBase
from bot.store.engine import threaded

log = logging.getLogger(__name__)

# The bot's advisory locks are (class, scope): the class tells the leader lock from others' locks, and the
# scope is the database and schema, so installations in two schemas of one database each have a leader.
LEADER_LOCK_CLASS = 0x1F0C0DE5
LOCK_SCOPE = "hashtext(current_database() || '/' || current_schema())"
# Whether session :pid holds the leader lock of this scope (a two-key lock shows objsubid 2).
_HELD = text(
    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = :pid "
    f"AND classid = :class AND objid = ({LOCK_SCOPE})::oid AND objsubid = 2"
)


class NotLeader(Exception):
    """This replica no longer holds the leader lock; what it was about to write is another's to write."""


class Leadership(StoreBase):
    """The leader lock: held on a connection of its own for as long as its session lives."""

    _leader: Connection | None = None
    _leader_pid: int | None = None
    # The watcher, the notifier and the paused-channel recheck ask from their own threads; the lock's
    # connection is one, and a connection serves one thread at a time. Set by the Store.
    _leader_guard: threading.Lock

    @threaded
    def lead(self) -> bool:
        """Whether this process may poll and deliver now: always with SQLite (its file lock keeps other
        processes out); with PostgreSQL, while it holds the leader lock.

        A held lock is checked on its own connection each time: when that session was terminated, the lock
        went with it and another replica may hold it now, so this answers False at once and stays out until
        it wins the lock again.
        """
        if self.backend != "postgresql":
            return True
        with self._leader_guard:
            return self._lead_locked()

    def _lead_locked(self) -> bool:
        if self._leader is not None:
            if self._still_holds_lock(self._leader):
                return True
            log.warning("lost the leader lock; this replica stops polling and delivering")
            self._drop_leadership_locked()
            return False
        connection = self._engine.connect()
        try:
            got = bool(
                connection.execute(
                    text(f"SELECT pg_try_advisory_lock(:class, {LOCK_SCOPE})"), {"class": LEADER_LOCK_CLASS}
                ).scalar()
            )
            connection.commit()
        except Exception:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        pid = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
        connection.commit()
        log.info("holding the leader lock: this replica polls and delivers")
        self._leader_pid, self._leader = pid, connection
        return True

    def _fence(self, session: Session) -> None:
        """Refuse a leader's write unless its lock session still holds the lock, checked in the write's
        own transaction: a replica whose lock was taken from it must not record or claim anything."""
        if self.backend != "postgresql":
            return
        held = (
            self._leader_pid is not None
            and session.execute(_HELD, {"pid": self._leader_pid, "class": LEADER_LOCK_CLASS}).first()
        )
        if not held:
            raise NotLeader()

    def _still_holds_lock(self, connection: Connection) -> bool:
        try:
            with connection.begin():
                held = connection.execute(
                    _HELD, {"pid": self._leader_pid, "class": LEADER_LOCK_CLASS}
                ).first()
        except Exception as error:
            log.warning("the leader lock's connection failed: %s", type(error).__name__)
            return False
        return held is not None

    def _drop_leadership(self) -> None:
        with self._leader_guard:
            self._drop_leadership_locked()

    def _drop_leadership_locked(self) -> None:
        if self._leader is not None:
            try:
                # Released now rather than when the server notices the session ended (its connection goes
                # back to the pool, or closes, asynchronously): another replica may lead at once.
                self._leader.execute(
                    text(f"SELECT pg_advisory_unlock(:class, {LOCK_SCOPE})"), {"class": LEADER_LOCK_CLASS}
                )
                self._leader.commit()
            except Exception as error:
                log.debug("the leader lock's session is gone already: %s", type(error).__name__)
            try:
                self._leader.close()
            except Exception as error:
                log.debug("closing a dead leader connection: %s", type(error).__name__)
            self._leader, self._leader_pid = None, None
