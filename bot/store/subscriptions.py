"""Subscriptions: which channel watches which deployment, and channels paused because they cannot post."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.base import StoreBase
from bot.store.convert import to_subscription
from bot.store.engine import threaded
from bot.store.schema import (
    OPEN_STATES,
    REASON_MAX_CHARS,
    DeliveryRow,
    DeliveryState,
    DeploymentStateRow,
    ProjectHealthRow,
    SubscriptionRow,
)
from bot.watch.subscriptions import ALL_DEPLOYMENTS, SubscribeOutcome, Subscription


class Subscriptions(StoreBase):
    """Reads and writes of subscriptions."""

    @threaded
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
        notify: tuple[str, ...] | None = None,
    ) -> tuple[Subscription, SubscribeOutcome]:
        """Add a subscription, resume a paused one, or change the options of an existing one.

        ``notify`` replaces the mentions of problem alerts (``()`` clears them); None keeps them. Two
        identical requests at once (a double click) both succeed: the one that loses the race to insert
        finds the other's row and changes it, or nothing.
        """
        retried = False
        while True:
            try:
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
                            notify=list(notify or ()),
                        )
                        session.add(row)
                        session.flush()
                        return to_subscription(row), SubscribeOutcome.CREATED
                    # A new list, never one changed in place: the JSON column only sees an assignment.
                    wanted_notify = list(notify) if notify is not None else list(row.notify or ())
                    # `watch --all` again means all of them: it ends the mutes.
                    if row.paused_reason is not None:
                        row.paused_reason = None
                        row.only_problems, row.flat, row.created_by = only_problems, flat, created_by
                        row.notify, row.muted = wanted_notify, []
                        return to_subscription(row), SubscribeOutcome.RESUMED
                    before = (row.only_problems, row.flat, list(row.notify or ()), list(row.muted or ()))
                    if before != (only_problems, flat, wanted_notify, []):
                        row.only_problems, row.flat, row.notify, row.muted = (
                            only_problems,
                            flat,
                            wanted_notify,
                            [],
                        )
                        return to_subscription(row), SubscribeOutcome.UPDATED
                    return to_subscription(row), SubscribeOutcome.UNCHANGED
            except IntegrityError:
                if retried:
                    raise
                retried = True

    @threaded
    def unsubscribe(self, channel_id: str, project_id: int, target: str) -> Subscription | None:
        """Remove a subscription; the removed one, or None when there was none."""
        with self._sessions.begin() as session:
            row = self._find_subscription(session, channel_id, project_id, target)
            return self._remove_subscription(session, row)

    @threaded
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
        removed = to_subscription(row)
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

    @threaded
    def channel_subscriptions(self, channel_id: str) -> list[Subscription]:
        """The channel's subscriptions, paused ones included."""
        with self._sessions() as session:
            rows = session.scalars(
                select(SubscriptionRow)
                .where(SubscriptionRow.channel_id == channel_id)
                .order_by(SubscriptionRow.project_id, SubscriptionRow.target)
            )
            return [to_subscription(row) for row in rows]

    @threaded
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
            rows = [row for row in rows if name not in (row.muted or ())]
            return to_subscription(rows[0]) if rows else None

    @threaded
    def mentions_for(self, channel_id: str, project_id: int, name: str | None) -> tuple[str, ...]:
        """Whom the channel's active subscriptions covering the deployment (None: any of the project's)
        notify of problems, in order."""
        query = select(SubscriptionRow).where(
            SubscriptionRow.channel_id == channel_id,
            SubscriptionRow.project_id == project_id,
            SubscriptionRow.paused_reason.is_(None),
        )
        if name is not None:
            query = query.where(SubscriptionRow.target.in_((name, ALL_DEPLOYMENTS)))
        with self._sessions() as session:
            rows = session.scalars(query.order_by(SubscriptionRow.id))
            wanted = (m for row in rows if name not in (row.muted or ()) for m in row.notify or ())
            return tuple(dict.fromkeys(wanted))

    @threaded
    def mute(self, channel_id: str, project_id: int, name: str) -> Subscription | None:
        """Leave the deployment out of the channel's ``--all`` subscription of the project; that
        subscription, or None when the channel has none."""
        with self._sessions.begin() as session:
            row = self._find_subscription(session, channel_id, project_id, ALL_DEPLOYMENTS)
            if row is None:
                return None
            if name not in (row.muted or ()):
                row.muted = [*(row.muted or ()), name]
            session.flush()
            return to_subscription(row)

    @threaded
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

    @threaded
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

    @threaded
    def subscription_count(self) -> int:
        """How many subscriptions there are, paused ones included."""
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(SubscriptionRow)) or 0

    @threaded
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

    @threaded
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
        return [to_subscription(row) for row in rows]
