"""Deliveries: each alert's way to one channel, ``pending → sending → posted → done``, and the messages
later alerts reply under or edit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update

from bot.store.convert import to_transition
from bot.store.engine import threaded, utc
from bot.store.leadership import Leadership
from bot.store.schema import (
    OPEN_STATES,
    REASON_MAX_CHARS,
    DeliveryRow,
    DeliveryState,
    ThreadRow,
    TransitionRow,
)
from bot.watch.transitions import Transition


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
    transition_id: int = 0


class Deliveries(Leadership):
    """Reads and writes of deliveries; only the leader claims one."""

    @threaded
    def open_delivery_channels(self) -> list[str]:
        """Channels with deliveries not yet done."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(DeliveryRow.channel_id).where(DeliveryRow.state.in_(OPEN_STATES)).distinct()
                )
            )

    @threaded
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
                    transition=to_transition(transition),
                    updated_at=utc(delivery.updated_at),
                    transition_id=transition.id,
                )
                for delivery, transition in session.execute(query).all()
            ]

    @threaded
    def oldest_open_delivery(self) -> datetime | None:
        """When the transition of the oldest delivery not yet done was recorded; None when none is open."""
        with self._sessions() as session:
            oldest = session.scalar(
                select(func.min(TransitionRow.at))
                .join(DeliveryRow, DeliveryRow.transition_id == TransitionRow.id)
                .where(DeliveryRow.state.in_(OPEN_STATES))
            )
            return None if oldest is None else utc(oldest)

    @threaded
    def delivery_outcomes(self) -> dict[str, int]:
        """How deliveries ended: ``posted`` (done, with a message of its own), ``updated`` (done as an edit
        alone), ``skipped`` (its channel paused), ``failed`` (given up); and ``retried``, the failed attempts
        that were tried again."""
        outcomes = dict.fromkeys(("posted", "updated", "skipped", "failed", "retried"), 0)
        posted = DeliveryRow.ts.is_not(None).label("posted")
        query = select(DeliveryRow.state, posted, func.count(), func.sum(DeliveryRow.attempts)).group_by(
            DeliveryRow.state, posted
        )
        with self._sessions() as session:
            rows = session.execute(query).all()
        for state, has_message, count, attempts in rows:
            if state == DeliveryState.DONE:
                outcomes["posted" if has_message else "updated"] += count
            elif state in (DeliveryState.SKIPPED, DeliveryState.FAILED):
                outcomes[state] += count
            # A failed delivery's last attempt was not tried again.
            outcomes["retried"] += (attempts or 0) - (count if state == DeliveryState.FAILED else 0)
        return outcomes

    @threaded
    def channel_story(
        self,
        channel_id: str,
        project_id: int,
        name: str,
        episode: int,
        upto_transition_id: int,
        since: datetime | None = None,
    ) -> list[Transition]:
        """What the channel was sent of a deployment's episode, up to and including one transition, in
        order; episode 0 is the routine sleeping and waking, of the day that begins at ``since``."""
        query = (
            select(TransitionRow)
            .join(DeliveryRow, DeliveryRow.transition_id == TransitionRow.id)
            .where(
                DeliveryRow.channel_id == channel_id,
                DeliveryRow.state.not_in((DeliveryState.SKIPPED, DeliveryState.FAILED)),
                TransitionRow.project_id == project_id,
                TransitionRow.name == name,
                TransitionRow.episode == episode,
                TransitionRow.id <= upto_transition_id,
            )
            .order_by(TransitionRow.id)
        )
        if since is not None:
            query = query.where(TransitionRow.at >= since)
        with self._sessions() as session:
            return [to_transition(row) for row in session.scalars(query)]

    @threaded
    def claim_delivery(self, delivery_id: int, now: datetime, *, thread_ts: str | None) -> bool:
        """Mark a delivery ``sending`` just before its post, stamped ``now``: only the leader may, and only
        a delivery not yet posted. False when it was posted or finished meanwhile."""
        with self._sessions.begin() as session:
            self._fence(session)
            claimed = cast(
                CursorResult[Any],
                session.execute(
                    update(DeliveryRow)
                    .where(
                        DeliveryRow.id == delivery_id,
                        DeliveryRow.state.in_((DeliveryState.PENDING, DeliveryState.SENDING)),
                    )
                    .values(state=DeliveryState.SENDING, updated_at=now, thread_ts=thread_ts)
                ),
            )
            return bool(claimed.rowcount)

    @threaded
    def mark_delivery(
        self, delivery_id: int, state: DeliveryState, now: datetime, *, ts: str | None = None
    ) -> None:
        """Move a delivery to ``posted``, ``done`` (or another state), keeping the message ts once known."""
        values: dict[str, Any] = {"state": state, "updated_at": now}
        if ts is not None:
            values["ts"] = ts
        with self._sessions.begin() as session:
            session.execute(update(DeliveryRow).where(DeliveryRow.id == delivery_id).values(**values))

    @threaded
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

    @threaded
    def thread(self, channel_id: str, project_id: int, name: str, episode: int, purpose: str) -> str | None:
        """The ts of the channel's message for this episode and purpose, if one was posted."""
        with self._sessions() as session:
            row = session.get(ThreadRow, (channel_id, project_id, name, episode, purpose))
            return row.ts if row else None

    @threaded
    def forget_thread(self, channel_id: str, ts: str) -> None:
        """Forget the channel's message ``ts`` (deleted, or no longer editable): the next alert that would
        have replied under it or edited it posts a new one."""
        with self._sessions.begin() as session:
            session.execute(delete(ThreadRow).where(ThreadRow.channel_id == channel_id, ThreadRow.ts == ts))

    @threaded
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
