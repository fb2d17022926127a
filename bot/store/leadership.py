"""Which replica polls which project, and which one delivers: PostgreSQL advisory locks on one connection,
checked inside every write that needs them.

- **Members.** Each replica holds a shared lock for as long as its lock session lives; the number of
  holders is the number of live replicas.
- **Project leases.** A replica polls a project while it holds that project's lock. Each cycle it keeps at
  most its share (the watched projects divided by the live replicas, rounded up), lets go of the rest, and
  tries the free ones in an order of its own until it has its share. A replica that dies loses its locks
  when PostgreSQL sees its session end; the others take its projects on their next cycle.
- **The leader.** One replica holds the leader lock and delivers alerts, so a channel's messages keep
  their order and its pace; it also republishes Home tabs and rechecks paused channels.

Advisory locks rather than lease rows with an expiry: a killed replica's locks go when its connection
closes, not after an expiry that must outlast a slow cycle; no replica compares its clock with another's;
and no cycle writes a renewal. A write checks in its own transaction that the lock it needs is still held
(`NotLeader` otherwise). With SQLite there is one process (its file lock keeps others out): it holds
everything.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, TextClause, text
from sqlalchemy.orm import Session

from bot.store.base import StoreBase
from bot.store.engine import threaded

log = logging.getLogger(__name__)

T = TypeVar("T")

# The bot's advisory locks are (class, scope): the class tells the bot's locks from others', and the
# scope is the database and schema, so installations in two schemas of one database stay apart. Replicas
# that start together queue on the migration lock, whoever leads.
LEADER_LOCK_CLASS = 0x1F0C0DE5
MIGRATION_LOCK_CLASS = 0x1F0C0DE6
MEMBER_LOCK_CLASS = 0x1F0C0DE7
LOCK_SCOPE = "hashtext(current_database() || '/' || current_schema())"
# A project's lease is (this scope, project id); a poll's write takes (the write scope, project id) for its
# transaction, so a replica that takes the lease over reads the project only after that write commits.
PROJECT_SCOPE = "hashtext(current_database() || '/' || current_schema() || '/projects')"
PROJECT_WRITE_SCOPE = "hashtext(current_database() || '/' || current_schema() || '/project-writes')"
# The server's side of this session's TCP bounds: a replica whose host vanished without closing its
# connection (no FIN, no RST) would otherwise keep its locks, and so its projects, until the server's own
# keepalive gives up, two hours by default; with these, within about 12 s.
SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": 5,
    "tcp_keepalives_interval": 2,
    "tcp_keepalives_count": 3,
    "tcp_user_timeout": 12_000,
}
# pg_locks shows a two-key advisory lock as (classid, objid) with objsubid 2.
_ADVISORY = "locktype = 'advisory' AND granted AND objsubid = 2"
_LEADER_HELD = text(
    f"SELECT 1 FROM pg_locks WHERE {_ADVISORY} AND pid = :pid "
    f"AND classid = :class AND objid = ({LOCK_SCOPE})::oid"
)
_PROJECT_HELD = text(
    f"SELECT 1 FROM pg_locks WHERE {_ADVISORY} AND pid = :pid "
    f"AND classid = ({PROJECT_SCOPE})::oid AND objid = CAST(:project AS integer)::oid"
)
_HELD_PROJECTS = text(
    f"SELECT objid::bigint FROM pg_locks WHERE {_ADVISORY} AND pid = pg_backend_pid() "
    f"AND classid = ({PROJECT_SCOPE})::oid"
)
_END_STALE = text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = :pid AND backend_start = :started"
)
_MEMBERS = text(
    f"SELECT count(*) FROM pg_locks WHERE {_ADVISORY} AND classid = :class AND objid = ({LOCK_SCOPE})::oid"
)


@dataclass(frozen=True)
class Leases:
    """The projects this replica polls this cycle; ``taken`` are those it did not hold the cycle before:
    another replica may have polled them meanwhile, so what this one remembers of them is stale."""

    projects: list[int]
    taken: frozenset[int] = frozenset()


class NotLeader(Exception):
    """This replica no longer holds the lock a write needs (the leader's, or a project's lease); what it
    was about to write is another replica's to write."""


class Leadership(StoreBase):
    """The locks of this replica, held on one connection of its own for as long as its session lives."""

    _locks: Connection | None = None
    _locks_pid: int | None = None
    _locks_started: datetime
    _leading: bool = False
    _leased: frozenset[int] = frozenset()
    # A lost locks session the server may still keep (a network cut): its pid and start, ended on reconnect.
    _stale: tuple[int, datetime] | None = None
    # Set when the session was lost while leading: the next lead() answers False once, so the notifier steps
    # down and forgets its claims, whatever the new session wins.
    _lost_lead: bool = False
    # The watcher, the notifier and the paused-channel recheck ask from their own threads; the locks'
    # connection is one, and a connection serves one thread at a time. Set by the Store.
    _locks_guard: threading.Lock

    @threaded
    def lead(self) -> bool:
        """Whether this process may deliver now: always with SQLite; with PostgreSQL, while it holds the
        leader lock.

        A held lock is checked on its own connection each time: when that session was terminated, every
        lock went with it and another replica may hold them now; this replica then tries again on a new
        session, so it answers True only when no other replica took the lock meanwhile.
        """
        if self.backend != "postgresql":
            return True
        with self._locks_guard:
            leading = self._on_locks(self._lead_on)
            if self._lost_lead:
                # Another replica may have led and claimed meanwhile: this one steps down once first.
                self._lost_lead = False
                return False
            return leading

    @threaded
    def lease_projects(self, wanted: Sequence[int]) -> Leases:
        """The projects of ``wanted`` this replica polls this cycle: all of them with SQLite; with
        PostgreSQL its share of them, leased by lock. Projects it leased and no longer wants, or holds
        beyond its share, are let go for another replica to take."""
        if self.backend != "postgresql":
            return Leases(sorted(set(wanted)))
        with self._locks_guard:
            return self._on_locks(lambda locks: self._lease_on(locks, wanted))

    def _on_locks(self, act: Callable[[Connection], T]) -> T:
        """``act`` on the locks' connection. When that session has died, this replica lets go of what it
        held and acts once on a new session; a database that does not answer then raises, as for any
        store call, rather than passing for an answer."""
        if self._locks is not None:
            try:
                return act(self._locks)
            except Exception as error:
                self._lost_session_locked(error)
        locks = self._session_locked()
        try:
            return act(locks)
        except BaseException:
            self._close_locks_locked(unlock=False)
            raise

    def _lead_on(self, locks: Connection) -> bool:
        if self._leading:
            with locks.begin():
                held = locks.execute(
                    _LEADER_HELD, {"pid": self._locks_pid, "class": LEADER_LOCK_CLASS}
                ).first()
            if held:
                return True
            log.warning("lost the leader lock; this replica stops delivering")
            self._leading = False
            return False
        with locks.begin():
            self._leading = bool(
                locks.execute(
                    text(f"SELECT pg_try_advisory_lock(:class, {LOCK_SCOPE})"), {"class": LEADER_LOCK_CLASS}
                ).scalar()
            )
        if self._leading:
            log.info("holding the leader lock: this replica delivers alerts")
        return self._leading

    def _lease_on(self, locks: Connection, wanted: Sequence[int]) -> Leases:
        with locks.begin():
            held = {int(project) for project in locks.execute(_HELD_PROJECTS).scalars()}
            members = int(locks.execute(_MEMBERS, {"class": MEMBER_LOCK_CLASS}).scalar_one())
        if self._leased - held:
            log.warning("lost the lease of %d projects; other replicas poll them", len(self._leased - held))
        share = math.ceil(len(wanted) / max(members, 1))
        ranked = sorted(set(wanted), key=self._preference)
        keep = [project for project in ranked if project in held][:share]
        for project in sorted(held - set(keep)):
            self._unlock_project(locks, project)
        taken = set()
        for project in ranked:
            if len(keep) >= share:
                break
            if project not in held and self._try_project(locks, project):
                keep.append(project)
                taken.add(project)
        if set(keep) != self._leased:
            log.info(
                "polling %d of %d watched projects (replicas alive: %d)", len(keep), len(wanted), members
            )
        self._leased = frozenset(keep)
        return Leases(sorted(keep), frozenset(taken))

    def _preference(self, project_id: int) -> bytes:
        # Each replica tries projects in an order of its own, so two replicas rarely reach for the same one.
        return hashlib.blake2b(f"{self._locks_pid}/{project_id}".encode(), digest_size=8).digest()

    @staticmethod
    def _try_project(locks: Connection, project_id: int) -> bool:
        with locks.begin():
            return bool(
                locks.execute(
                    text(f"SELECT pg_try_advisory_lock({PROJECT_SCOPE}, CAST(:project AS integer))"),
                    {"project": project_id},
                ).scalar()
            )

    @staticmethod
    def _unlock_project(locks: Connection, project_id: int) -> None:
        with locks.begin():
            locks.execute(
                text(f"SELECT pg_advisory_unlock({PROJECT_SCOPE}, CAST(:project AS integer))"),
                {"project": project_id},
            )

    def _session_locked(self) -> Connection:
        """The locks' connection, opened (and this replica counted as a member) when there is none; a
        database that cannot be reached raises, as for any store call."""
        if self._locks is not None:
            return self._locks
        connection = self._engine.connect()
        try:
            with connection.begin():
                connection.execute(
                    text(f"SELECT pg_advisory_lock_shared(:class, {LOCK_SCOPE})"),
                    {"class": MEMBER_LOCK_CLASS},
                )
                pid, started = connection.execute(
                    text("SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")
                ).one()
                for name, value in SERVER_KEEPALIVES.items():
                    connection.execute(
                        text("SELECT set_config(:name, :value, false)"), {"name": name, "value": str(value)}
                    )
        except BaseException:
            connection.close()
            raise
        self._locks, self._locks_pid, self._locks_started = connection, int(pid), started
        if self._stale is not None:
            self._end_stale_session(connection, *self._stale)
            self._stale = None
        return connection

    @staticmethod
    def _end_stale_session(connection: Connection, pid: int, started: datetime) -> None:
        """End the lost locks session if the server still keeps it (a network cut rather than a closed
        connection): now rather than when the server's keepalive notices, so its locks go at once. The
        start time tells it from a new session that reused the pid."""
        try:
            with connection.begin():
                connection.execute(_END_STALE, {"pid": pid, "started": started})
        except Exception as error:
            log.warning("could not end this replica's lost locks session: %s", type(error).__name__)

    def _lost_session_locked(self, error: Exception) -> None:
        log.warning(
            "the connection that holds this replica's locks failed (%s); it stops polling and delivering "
            "until it holds them again",
            type(error).__name__,
        )
        if self._locks_pid is not None:
            self._stale = (self._locks_pid, self._locks_started)
        self._lost_lead = self._lost_lead or self._leading
        self._close_locks_locked(unlock=False)

    def _fence(self, session: Session) -> None:
        """Refuse a leader's write unless its lock session still holds the leader lock, checked in the
        write's own transaction: a replica whose lock was taken from it must not claim anything."""
        if self.backend == "postgresql":
            self._require(session, _LEADER_HELD, {"class": LEADER_LOCK_CLASS})

    def _fence_project(self, session: Session, project_id: int) -> None:
        """Refuse a poll's write unless this replica still leases the project, checked in the write's own
        transaction, which first takes the project's write lock: a replica taking the lease over waits for
        a write that passed this check to commit before it reads the project."""
        if self.backend == "postgresql":
            self._take_project_write_lock(session, project_id)
            self._require(session, _PROJECT_HELD, {"project": project_id})

    def _require(self, session: Session, held: TextClause, params: dict[str, int]) -> None:
        """Raise ``NotLeader`` unless this replica's lock session holds the lock ``held`` asks about."""
        if (
            self._locks_pid is None
            or session.execute(held, {"pid": self._locks_pid, **params}).first() is None
        ):
            raise NotLeader()

    def _take_project_write_lock(self, session: Session, project_id: int) -> None:
        """Hold the project's write lock until the transaction ends (PostgreSQL only)."""
        if self.backend == "postgresql":
            session.execute(
                text(f"SELECT pg_advisory_xact_lock({PROJECT_WRITE_SCOPE}, CAST(:project AS integer))"),
                {"project": project_id},
            )

    def _drop_locks(self) -> None:
        with self._locks_guard:
            self._close_locks_locked(unlock=True)

    def _close_locks_locked(self, *, unlock: bool) -> None:
        if self._locks is not None:
            if unlock:
                try:
                    # Released now rather than when the server notices the session ended (its connection
                    # goes back to the pool, or closes, asynchronously): others may take over at once.
                    with self._locks.begin():
                        self._locks.execute(text("SELECT pg_advisory_unlock_all()"))
                except Exception as error:
                    log.debug("the locks' session is gone already: %s", type(error).__name__)
            try:
                # Invalidated, not returned to the pool: a pooled session would keep whatever locks it
                # still holds (a reset only rolls back), out of every replica's reach.
                self._locks.invalidate()
                self._locks.close()
            except Exception as error:
                log.debug("closing a dead locks connection: %s", type(error).__name__)
        self._locks, self._locks_pid = None, None
        self._leading, self._leased = False, frozenset()
