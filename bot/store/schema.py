"""The tables: SQLAlchemy models of the watcher's state. Every change to them is an Alembic revision in
``bot/store/migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.watch.transitions import STATUS_MAX_CHARS

# Column widths. A deployment name is 4 to 30 characters by Gcore's rules; a longer one is skipped by the
# watcher before it reaches a column. Error codes and reasons are cut to fit.
NAME_MAX_CHARS = 64
REASON_MAX_CHARS = 64
# A Slack response_url is about 100 characters; a longer one is not kept (the person hears in a DM).
RESPONSE_URL_MAX_CHARS = 2000


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
    """The metadata every table belongs to."""


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
    # Mentions as Slack writes them (``<@U…>``, ``<!subteam^S…>``), told of problems and recoveries.
    notify: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # Deployments an ``--all`` subscription leaves out.
    muted: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")


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
    # The compact spec (image, flavor, regions, scale, probes, env names and value hashes; never a value).
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ProjectHealthRow(Base):
    __tablename__ = "project_health"

    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    baseline_done: Mapped[bool] = mapped_column(Boolean, default=False)
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    outage_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(REASON_MAX_CHARS), nullable=True)


class TransitionRow(Base):
    __tablename__ = "transitions"
    __table_args__ = (Index("ix_transitions_deployment", "project_id", "name", "episode"),)

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
    # Outage notices: why the polls fail, and since when (the first failed poll).
    detail: Mapped[str | None] = mapped_column(String(REASON_MAX_CHARS), nullable=True)
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # What changed in the spec since the last settled state, as data the formatters word.
    changes: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)


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


class EpisodeActorRow(Base):
    """Who started an episode, from Gcore's audit log (looked up once). ``looked_up_at`` is set once the
    one lookup was made, found or not."""

    __tablename__ = "episode_actors"

    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), primary_key=True)
    episode: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    actor: Mapped[str | None] = mapped_column(String(254), nullable=True)
    action: Mapped[str | None] = mapped_column(String(32), nullable=True)
    acted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    looked_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditRow(Base):
    """An operator's action on a deployment, or its refusal: who, what, which deployment, when, and how
    it ended. ``idempotency_key`` is the confirmation's: a second delivery of the same click cannot insert
    a second row, so it cannot act twice."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_deployment", "project_id", "name", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS))
    # pending (claimed, Gcore not yet answered), done, failed or refused.
    result: Mapped[str] = mapped_column(String(16))
    # Why it was refused or failed, as data the formatters word (a setting, a status code).
    detail: Mapped[str | None] = mapped_column(String(REASON_MAX_CHARS), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)


class HomeViewRow(Base):
    """A person who opened the bot's Home tab, and what was last published to it (a digest of the view),
    so that a change republishes it once and no change republishes nothing."""

    __tablename__ = "home_views"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ConfirmationRow(Base):
    """Where to say a confirmed Stop or Start was done: the response_url of the command or click that
    opened the confirmation, under its idempotency key. Kept here rather than in the modal, which Slack's
    client holds; taken when the confirmation is submitted, and gone after the response_url's 30 minutes."""

    __tablename__ = "confirmations"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    response_url: Mapped[str] = mapped_column(String(RESPONSE_URL_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
