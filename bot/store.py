"""The watcher's database: subscriptions, last seen states, transitions and their deliveries (an outbox).

SQLAlchemy 2 over an embedded SQLite file by default, PostgreSQL when ``DATABASE_URL`` says so. A poll's new
states, its transitions and one delivery per channel are written in one transaction, before anything is
posted; the notifier then moves each delivery through ``pending → sending → posted → done``. Calls run in a
worker thread so the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import logging
import os
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from bot.subscriptions import ALL_DEPLOYMENTS, SubscribeOutcome, Subscription
from bot.transitions import STATUS_MAX_CHARS, AlertKind, ProjectDiff, Snapshot, Tracked, Transition

log = logging.getLogger(__name__)

# Column widths. A deployment name is 4 to 30 characters by Gcore's rules; a longer one is skipped by the
# watcher before it reaches a column. Error codes and reasons are cut to fit.
NAME_MAX_CHARS = 64
REASON_MAX_CHARS = 64

# Any constant; identifies the watcher's lock among other users of a shared PostgreSQL.
LEADER_LOCK_KEY = 0x1F0C0DE5
# Rows a bulk statement names at once, under SQLite's limit on bound parameters.
_BULK_CHUNK = 500
P = ParamSpec("P")
R = TypeVar("R")


class DeliveryState(StrEnum):
    """Where a delivery is on its way to Slack."""

    PENDING = "pending"
    SENDING = "sending"  # a post may have reached Slack; reconcile before posting again
    POSTED = "posted"  # the message exists; the thread parent may still need its update
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


OPEN_STATES = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.POSTED)


class Base(DeclarativeBase):
    pass


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("channel_id", "project_id", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(String(NAME_MAX_CHARS))
    only_problems: Mapped[bool] = mapped_column(Boolean, default=False)
    flat: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paused_reason: Mapped[str | None] = mapped_column(String(REASON_MAX_CHARS), nullable=True)


class DeploymentStateRow(Base):
    __tablename__ = "deployment_states"

    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), primary_key=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    unsettled_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    stuck_alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    problem: Mapped[bool] = mapped_column(Boolean, default=False)
    changes: Mapped[list[str]] = mapped_column(JSON, default=list)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    episode: Mapped[int] = mapped_column(BigInteger, default=0)
    episode_open: Mapped[bool] = mapped_column(Boolean, default=False)


class ProjectHealthRow(Base):
    __tablename__ = "project_health"

    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    baseline_done: Mapped[bool] = mapped_column(Boolean, default=False)
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    outage_notified: Mapped[bool] = mapped_column(Boolean, default=False)


class TransitionRow(Base):
    __tablename__ = "transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    old_status: Mapped[str | None] = mapped_column(String(STATUS_MAX_CHARS), nullable=True)
    new_status: Mapped[str | None] = mapped_column(String(STATUS_MAX_CHARS), nullable=True)
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    episode: Mapped[int] = mapped_column(BigInteger, default=0)
    problem: Mapped[bool] = mapped_column(Boolean, default=False)
    recovery: Mapped[bool] = mapped_column(Boolean, default=False)
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    flap_count: Mapped[int] = mapped_column(Integer, default=0)


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("transition_id", "channel_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transition_id: Mapped[int] = mapped_column(ForeignKey("transitions.id"))
    channel_id: Mapped[str] = mapped_column(String(32))
    flat: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING, index=True)
    ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    thread_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(REASON_MAX_CHARS), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ThreadRow(Base):
    """A channel's message that later alerts reply under or update: an episode's parent, a flapping notice."""

    __tablename__ = "threads"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), primary_key=True)
    episode: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16), primary_key=True)
    ts: Mapped[str] = mapped_column(String(32))


@dataclass(frozen=True)
class DeliveryJob:
    """A delivery to work on, with the transition it carries."""

    id: int
    channel_id: str
    flat: bool
    state: DeliveryState
    ts: str | None
    thread_ts: str | None
    attempts: int
    transition: Transition
    updated_at: datetime


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every moment we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _threaded(method: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run a blocking store method in a worker thread, so callers ``await`` it."""

    @functools.wraps(method)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(method, *args, **kwargs)

    return run


def _snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "name": snapshot.name,
        "status": snapshot.status,
        "ready": snapshot.ready,
        "total": snapshot.total,
        "min_ready": snapshot.min_ready,
        "errors": [list(error) for error in snapshot.errors],
    }


def _snapshot_from(data: dict[str, Any]) -> Snapshot:
    return Snapshot(
        name=data["name"],
        status=data["status"],
        ready=data.get("ready", 0),
        total=data.get("total", 0),
        min_ready=data.get("min_ready", 0),
        errors=tuple((int(region), str(message)) for region, message in data.get("errors", [])),
    )


def _subscription(row: SubscriptionRow) -> Subscription:
    return Subscription(
        id=row.id,
        channel_id=row.channel_id,
        project_id=row.project_id,
        target=row.target,
        only_problems=row.only_problems,
        flat=row.flat,
        created_by=row.created_by,
        created_at=_utc(row.created_at),
        paused_reason=row.paused_reason,
    )


def _tracked(row: DeploymentStateRow) -> Tracked:
    return Tracked(
        snapshot=_snapshot_from(row.snapshot),
        unsettled_since=_utc(row.unsettled_since) if row.unsettled_since else None,
        stuck_alerted=row.stuck_alerted,
        problem=row.problem,
        changes=tuple(datetime.fromisoformat(moment) for moment in row.changes),
        flapping=row.flapping,
        episode=row.episode,
        episode_open=row.episode_open,
    )


# Transition fields stored as they are; kind and snapshot are converted.
_TRANSITION_COLUMNS = (
    "project_id",
    "name",
    "old_status",
    "new_status",
    "episode",
    "problem",
    "recovery",
    "offline",
    "flap_count",
)


def _transition(row: TransitionRow) -> Transition:
    return Transition(
        **{column: getattr(row, column) for column in _TRANSITION_COLUMNS},
        kind=AlertKind(row.kind),
        at=_utc(row.at),
        snapshot=_snapshot_from(row.snapshot) if row.snapshot else None,
    )


def create_database_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite tuned for one process with threads, anything else as given."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the bot read while the watcher writes; NORMAL sync is durable across process crashes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class NotLeader(Exception):
    """This replica no longer holds the leader lock; what it was about to write is another's to write."""


class DatabaseInUse(Exception):
    """Another process already uses this SQLite file."""


def _lock_sqlite_file(url: str) -> int | None:
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


class Store:
    """Every read and write of the watcher's state; async methods run in a worker thread."""

    def __init__(self, url: str) -> None:
        self._file_lock = _lock_sqlite_file(url)
        self._engine = create_database_engine(url)
        Base.metadata.create_all(self._engine)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._leader: Connection | None = None
        self._leader_pid: int | None = None

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Release the leader lock and every pooled connection."""
        self._drop_leadership()
        self._engine.dispose()
        if self._file_lock is not None:
            os.close(self._file_lock)
            self._file_lock = None

    # -- leadership ------------------------------------------------------------------------

    @_threaded
    def lead(self) -> bool:
        """Whether this process may poll and deliver now: always with SQLite (its file lock keeps other
        processes out); with PostgreSQL, while it holds the leader lock.

        A held lock is checked on its own connection each time: when that session was terminated, the lock
        went with it and another replica may hold it now, so this answers False at once and stays out until
        it wins the lock again.
        """
        if self.backend != "postgresql":
            return True
        if self._leader is not None:
            if self._still_holds_lock(self._leader):
                return True
            log.warning("lost the leader lock; this replica stops polling and delivering")
            self._drop_leadership()
            return False
        connection = self._engine.connect()
        try:
            got = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}
                ).scalar()
            )
            connection.commit()
        except Exception:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        log.info("holding the leader lock: this replica polls and delivers")
        self._leader = connection
        self._leader_pid = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
        connection.commit()
        return True

    def _fence(self, session: Session) -> None:
        """Refuse a leader's write unless its lock session still holds the lock, checked in the write's
        own transaction: a replica whose lock was taken from it must not record or claim anything."""
        if self.backend != "postgresql":
            return
        held = (
            self._leader_pid is not None
            and session.execute(
                text(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = :pid AND objid = :key"
                ),
                {"pid": self._leader_pid, "key": LEADER_LOCK_KEY},
            ).first()
        )
        if not held:
            raise NotLeader()

    @staticmethod
    def _still_holds_lock(connection: Connection) -> bool:
        try:
            held = connection.execute(
                text(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND objid = :key"
                ),
                {"key": LEADER_LOCK_KEY},
            ).first()
            connection.commit()
        except Exception as error:
            log.warning("the leader lock's connection failed: %s", type(error).__name__)
            return False
        return held is not None

    def _drop_leadership(self) -> None:
        if self._leader is not None:
            try:
                self._leader.close()
            except Exception as error:
                log.debug("closing a dead leader connection: %s", type(error).__name__)
            self._leader, self._leader_pid = None, None

    # -- subscriptions ---------------------------------------------------------------------

    @_threaded
    def subscribe(
        self,
        *,
        channel_id: str,
        project_id: int,
        target: str,
        only_problems: bool,
        flat: bool,
        created_by: str,
        now: datetime,
    ) -> tuple[Subscription, SubscribeOutcome]:
        """Add a subscription, resume a paused one, or change the options of an existing one."""
        with self._sessions.begin() as session:
            row = self._find_subscription(session, channel_id, project_id, target)
            if row is None:
                row = SubscriptionRow(
                    channel_id=channel_id,
                    project_id=project_id,
                    target=target,
                    only_problems=only_problems,
                    flat=flat,
                    created_by=created_by,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                return _subscription(row), SubscribeOutcome.CREATED
            if row.paused_reason is not None:
                row.paused_reason = None
                row.only_problems, row.flat, row.created_by = only_problems, flat, created_by
                return _subscription(row), SubscribeOutcome.RESUMED
            if (row.only_problems, row.flat) != (only_problems, flat):
                row.only_problems, row.flat = only_problems, flat
                return _subscription(row), SubscribeOutcome.UPDATED
            return _subscription(row), SubscribeOutcome.UNCHANGED

    @_threaded
    def unsubscribe(self, channel_id: str, project_id: int, target: str) -> Subscription | None:
        """Remove a subscription; the removed one, or None when there was none."""
        with self._sessions.begin() as session:
            row = self._find_subscription(session, channel_id, project_id, target)
            return self._remove_subscription(session, row)

    @_threaded
    def unsubscribe_id(self, subscription_id: int, channel_id: str) -> Subscription | None:
        """Remove a subscription by id, only from the channel it belongs to; the removed one, or None."""
        with self._sessions.begin() as session:
            row = session.get(SubscriptionRow, subscription_id)
            return self._remove_subscription(session, row if row and row.channel_id == channel_id else None)

    @staticmethod
    def _find_subscription(
        session: Session, channel_id: str, project_id: int, target: str
    ) -> SubscriptionRow | None:
        return session.scalars(
            select(SubscriptionRow).where(
                SubscriptionRow.channel_id == channel_id,
                SubscriptionRow.project_id == project_id,
                SubscriptionRow.target == target,
            )
        ).one_or_none()

    @staticmethod
    def _remove_subscription(session: Session, row: SubscriptionRow | None) -> Subscription | None:
        if row is None:
            return None
        removed = _subscription(row)
        session.delete(row)
        session.flush()
        remaining = session.scalars(
            select(SubscriptionRow.id).where(SubscriptionRow.project_id == removed.project_id).limit(1)
        ).first()
        if remaining is None:
            # Nobody watches the project any more: forget it, so watching it again starts from a fresh baseline.
            session.execute(
                delete(DeploymentStateRow).where(DeploymentStateRow.project_id == removed.project_id)
            )
            session.execute(delete(ProjectHealthRow).where(ProjectHealthRow.project_id == removed.project_id))
        return removed

    @_threaded
    def channel_subscriptions(self, channel_id: str) -> list[Subscription]:
        """The channel's subscriptions, paused ones included."""
        with self._sessions() as session:
            rows = session.scalars(
                select(SubscriptionRow)
                .where(SubscriptionRow.channel_id == channel_id)
                .order_by(SubscriptionRow.project_id, SubscriptionRow.target)
            )
            return [_subscription(row) for row in rows]

    @_threaded
    def watching(self, channel_id: str, project_id: int, name: str) -> Subscription | None:
        """The channel's active subscription that covers the deployment, by name first, else ``--all``."""
        with self._sessions() as session:
            rows = sorted(
                session.scalars(
                    select(SubscriptionRow).where(
                        SubscriptionRow.channel_id == channel_id,
                        SubscriptionRow.project_id == project_id,
                        SubscriptionRow.target.in_((name, ALL_DEPLOYMENTS)),
                        SubscriptionRow.paused_reason.is_(None),
                    )
                ),
                key=lambda row: row.target == ALL_DEPLOYMENTS,
            )
            return _subscription(rows[0]) if rows else None

    @_threaded
    def watched_projects(self) -> list[int]:
        """Projects with at least one active subscription."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(SubscriptionRow.project_id)
                    .where(SubscriptionRow.paused_reason.is_(None))
                    .distinct()
                )
            )

    @_threaded
    def pause_channel(self, channel_id: str, reason: str) -> list[Subscription]:
        """Pause the channel's active subscriptions and skip its open deliveries; the newly paused ones."""
        reason = reason[:REASON_MAX_CHARS]
        with self._sessions.begin() as session:
            paused = self._set_paused(session, channel_id, reason)
            session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.channel_id == channel_id, DeliveryRow.state.in_(OPEN_STATES))
                .values(state=DeliveryState.SKIPPED, last_error=reason)
            )
            return paused

    @_threaded
    def paused_channels(self) -> list[str]:
        """Channels with at least one paused subscription."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(SubscriptionRow.channel_id)
                    .where(SubscriptionRow.paused_reason.is_not(None))
                    .distinct()
                    .order_by(SubscriptionRow.channel_id)
                )
            )

    @_threaded
    def resume_channel(self, channel_id: str) -> list[Subscription]:
        """Resume the channel's paused subscriptions; the resumed ones."""
        with self._sessions.begin() as session:
            return self._set_paused(session, channel_id, None)

    @staticmethod
    def _set_paused(session: Session, channel_id: str, reason: str | None) -> list[Subscription]:
        """Pause (with ``reason``) the channel's active subscriptions, or resume its paused ones (None)."""
        now_paused = SubscriptionRow.paused_reason.is_not(None)
        rows = session.scalars(
            select(SubscriptionRow).where(
                SubscriptionRow.channel_id == channel_id, now_paused if reason is None else ~now_paused
            )
        ).all()
        for row in rows:
            row.paused_reason = reason
        return [_subscription(row) for row in rows]

    # -- polls -----------------------------------------------------------------------------

    @_threaded
    def load_project(self, project_id: int) -> tuple[dict[str, Tracked], datetime | None]:
        """The last seen state of a project's deployments, and when it was last polled (None: never)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(DeploymentStateRow).where(DeploymentStateRow.project_id == project_id)
            )
            tracked = {row.name: _tracked(row) for row in rows}
            health = session.get(ProjectHealthRow, project_id)
            polled = health.last_polled_at if health and health.baseline_done else None
            return tracked, _utc(polled) if polled else None

    @_threaded
    def record_poll(
        self, project_id: int, diff: ProjectDiff, changed: Iterable[str], now: datetime
    ) -> list[Transition]:
        """Save a successful poll: changed states, transitions and their deliveries, in one transaction.

        Returns the transitions recorded, with a "Gcore reachable again" first when the poll ends an outage.
        """
        recorded: list[Transition] = []
        with self._sessions.begin() as session:
            self._fence(session)
            self._save_states(session, project_id, {name: diff.tracked[name] for name in changed})
            if diff.deleted:
                session.execute(
                    delete(DeploymentStateRow).where(
                        DeploymentStateRow.project_id == project_id, DeploymentStateRow.name.in_(diff.deleted)
                    )
                )
            health = session.get(ProjectHealthRow, project_id) or ProjectHealthRow(project_id=project_id)
            session.add(health)
            if health.outage_notified:
                recorded.append(self._add_project_notice(session, project_id, AlertKind.GCORE_REACHABLE, now))
            health.baseline_done, health.failures, health.outage_notified = True, 0, False
            health.last_polled_at = now
            subscriptions = self._active_subscriptions(session, project_id)
            for transition in diff.transitions:
                row = self._add_transition(session, transition)
                for subscription in self._audience(subscriptions, transition):
                    self._add_delivery(session, row.id, subscription.channel_id, subscription.flat, now)
                recorded.append(transition)
            if diff.deleted:
                # A deleted deployment's own subscriptions end; `--all` ones stay.
                session.execute(
                    delete(SubscriptionRow).where(
                        SubscriptionRow.project_id == project_id, SubscriptionRow.target.in_(diff.deleted)
                    )
                )
        return recorded

    @_threaded
    def record_failed_poll(self, project_id: int, now: datetime, alert_after: int) -> Transition | None:
        """Count a failed poll; the "can't reach Gcore" notice when this one reaches ``alert_after``."""
        with self._sessions.begin() as session:
            self._fence(session)
            health = session.get(ProjectHealthRow, project_id) or ProjectHealthRow(
                project_id=project_id, baseline_done=False, failures=0, outage_notified=False
            )
            session.add(health)
            health.failures = (health.failures or 0) + 1
            if health.failures < alert_after or health.outage_notified:
                return None
            health.outage_notified = True
            return self._add_project_notice(session, project_id, AlertKind.GCORE_UNREACHABLE, now)

    @staticmethod
    def _save_states(session: Session, project_id: int, states: dict[str, Tracked]) -> None:
        """Replace the rows of ``states`` with bulk statements, 500 rows each: a baseline poll writes
        thousands, which row by row cost a SELECT and an INSERT apiece."""
        names = list(states)
        for start in range(0, len(names), _BULK_CHUNK):
            chunk = names[start : start + _BULK_CHUNK]
            session.execute(
                delete(DeploymentStateRow).where(
                    DeploymentStateRow.project_id == project_id, DeploymentStateRow.name.in_(chunk)
                )
            )
            session.execute(
                insert(DeploymentStateRow),
                [
                    {
                        "project_id": project_id,
                        "name": name,
                        "snapshot": _snapshot_json(states[name].snapshot),
                        "unsettled_since": states[name].unsettled_since,
                        "stuck_alerted": states[name].stuck_alerted,
                        "problem": states[name].problem,
                        "changes": [moment.isoformat() for moment in states[name].changes],
                        "flapping": states[name].flapping,
                        "episode": states[name].episode,
                        "episode_open": states[name].episode_open,
                    }
                    for name in chunk
                ],
            )

    @staticmethod
    def _active_subscriptions(session: Session, project_id: int) -> list[SubscriptionRow]:
        return list(
            session.scalars(
                select(SubscriptionRow).where(
                    SubscriptionRow.project_id == project_id, SubscriptionRow.paused_reason.is_(None)
                )
            )
        )

    @staticmethod
    def _audience(subscriptions: list[SubscriptionRow], transition: Transition) -> list[SubscriptionRow]:
        """One subscription per channel that wants the transition: a named one before ``--all``."""
        chosen: dict[str, SubscriptionRow] = {}
        for row in sorted(subscriptions, key=lambda r: r.target == ALL_DEPLOYMENTS):
            if row.target not in (transition.name, ALL_DEPLOYMENTS) or row.channel_id in chosen:
                continue
            if row.only_problems and not transition.problem:
                continue
            chosen[row.channel_id] = row
        return list(chosen.values())

    @staticmethod
    def _add_transition(session: Session, transition: Transition) -> TransitionRow:
        row = TransitionRow(
            **{column: getattr(transition, column) for column in _TRANSITION_COLUMNS},
            kind=transition.kind,
            at=transition.at,
            snapshot=_snapshot_json(transition.snapshot) if transition.snapshot else None,
        )
        session.add(row)
        session.flush()
        return row

    @staticmethod
    def _add_delivery(
        session: Session, transition_id: int, channel_id: str, flat: bool, now: datetime
    ) -> None:
        session.add(
            DeliveryRow(transition_id=transition_id, channel_id=channel_id, flat=flat, updated_at=now)
        )

    def _add_project_notice(
        self, session: Session, project_id: int, kind: AlertKind, now: datetime
    ) -> Transition:
        notice = Transition(project_id=project_id, name="", kind=kind, at=now, problem=True)
        row = self._add_transition(session, notice)
        channels = {sub.channel_id for sub in self._active_subscriptions(session, project_id)}
        for channel_id in sorted(channels):
            self._add_delivery(session, row.id, channel_id, True, now)
        return notice

    # -- deliveries ------------------------------------------------------------------------

    @_threaded
    def open_delivery_channels(self) -> list[str]:
        """Channels with deliveries not yet done."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(DeliveryRow.channel_id).where(DeliveryRow.state.in_(OPEN_STATES)).distinct()
                )
            )

    @_threaded
    def open_deliveries(self, channel_id: str | None = None, limit: int = 1000) -> list[DeliveryJob]:
        """Deliveries not yet done (of one channel, or all), oldest first: the order a channel must see."""
        query = (
            select(DeliveryRow, TransitionRow)
            .join(TransitionRow, DeliveryRow.transition_id == TransitionRow.id)
            .where(DeliveryRow.state.in_(OPEN_STATES))
            .order_by(DeliveryRow.id)
            .limit(limit)
        )
        if channel_id is not None:
            query = query.where(DeliveryRow.channel_id == channel_id)
        with self._sessions() as session:
            return [
                DeliveryJob(
                    id=delivery.id,
                    channel_id=delivery.channel_id,
                    flat=delivery.flat,
                    state=DeliveryState(delivery.state),
                    ts=delivery.ts,
                    thread_ts=delivery.thread_ts,
                    attempts=delivery.attempts,
                    transition=_transition(transition),
                    updated_at=_utc(delivery.updated_at),
                )
                for delivery, transition in session.execute(query).all()
            ]

    @_threaded
    def mark_delivery(
        self,
        delivery_id: int,
        state: DeliveryState,
        now: datetime,
        *,
        ts: str | None = None,
        thread_ts: str | None = None,
    ) -> None:
        """Move a delivery to ``state``, keeping the message ts once it is known."""
        values: dict[str, Any] = {"state": state, "updated_at": now}
        if ts is not None:
            values["ts"] = ts
        if thread_ts is not None:
            values["thread_ts"] = thread_ts
        with self._sessions.begin() as session:
            if state is DeliveryState.SENDING:
                # The claim before a post: only the leader may make it.
                self._fence(session)
            session.execute(update(DeliveryRow).where(DeliveryRow.id == delivery_id).values(**values))

    @_threaded
    def record_delivery_failure(self, delivery_id: int, error: str, *, give_up: bool) -> None:
        """Count a failed attempt; its state stays as it is (a ``sending`` one may have been posted),
        unless ``give_up`` makes it ``failed``."""
        values: dict[str, Any] = {
            "attempts": DeliveryRow.attempts + 1,
            "last_error": error[:REASON_MAX_CHARS],
        }
        if give_up:
            values["state"] = DeliveryState.FAILED
        with self._sessions.begin() as session:
            session.execute(update(DeliveryRow).where(DeliveryRow.id == delivery_id).values(**values))

    @_threaded
    def thread(self, channel_id: str, project_id: int, name: str, episode: int, purpose: str) -> str | None:
        """The ts of the channel's message for this episode and purpose, if one was posted."""
        with self._sessions() as session:
            row = session.get(ThreadRow, (channel_id, project_id, name, episode, purpose))
            return row.ts if row else None

    @_threaded
    def save_thread(
        self, channel_id: str, project_id: int, name: str, episode: int, purpose: str, ts: str
    ) -> None:
        """Remember the channel's message for this episode and purpose."""
        with self._sessions.begin() as session:
            session.merge(
                ThreadRow(
                    channel_id=channel_id,
                    project_id=project_id,
                    name=name,
                    episode=episode,
                    purpose=purpose,
                    ts=ts,
                )
            )
