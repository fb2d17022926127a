"""Polls: the last seen state of each deployment, and a poll's transitions with one delivery per channel
that wants them, written in one transaction before anything is posted (the outbox)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from bot.store.convert import TRANSITION_COLUMNS, changes_json, snapshot_json, state_spec_json, to_tracked
from bot.store.engine import threaded, utc
from bot.store.leadership import Leadership
from bot.store.schema import (
    REASON_MAX_CHARS,
    DeliveryRow,
    DeploymentStateRow,
    ProjectHealthRow,
    SubscriptionRow,
    TransitionRow,
)
from bot.watch.subscriptions import ALL_DEPLOYMENTS
from bot.watch.transitions import AlertKind, ProjectDiff, Tracked, Transition

# Rows a bulk statement names at once, under SQLite's limit on bound parameters.
_BULK_CHUNK = 500
# Which channels may get deliveries (ALLOWED_CHANNEL_IDS): subscriptions made before a channel left the
# list stay, and get nothing until it is back.
ChannelRule = Callable[[str], bool]


def every_channel(_: str) -> bool:
    """The rule without ALLOWED_CHANNEL_IDS."""
    return True


class Polls(Leadership):
    """Reads and writes of polls; only the replica that leases a project records its polls."""

    @threaded
    def load_project(self, project_id: int) -> tuple[dict[str, Tracked], datetime | None]:
        """The last seen state of a project's deployments, and when it was last polled (None: never)."""
        with self._sessions() as session:
            # After a write of the replica that leased the project before this one, if one is under way.
            self._take_project_write_lock(session, project_id)
            rows = session.scalars(
                select(DeploymentStateRow).where(DeploymentStateRow.project_id == project_id)
            )
            tracked = {row.name: to_tracked(row) for row in rows}
            health = session.get(ProjectHealthRow, project_id)
            polled = health.last_polled_at if health and health.baseline_done else None
            return tracked, utc(polled) if polled else None

    @threaded
    def record_poll(
        self,
        project_id: int,
        diff: ProjectDiff,
        changed: Iterable[str],
        now: datetime,
        *,
        allows_channel: ChannelRule = every_channel,
    ) -> list[Transition]:
        """Save a successful poll: changed states, transitions and their deliveries, in one transaction.
        Only channels ``allows_channel`` allows (ALLOWED_CHANNEL_IDS) get deliveries.

        Returns the transitions recorded, with a "Gcore reachable again" first when the poll ends an outage.
        """
        recorded: list[Transition] = []
        with self._sessions.begin() as session:
            self._fence_project(session, project_id)
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
                recorded.append(
                    self._add_project_notice(
                        session,
                        project_id,
                        AlertKind.GCORE_REACHABLE,
                        now,
                        allows_channel,
                        since=health.failing_since,
                    )
                )
            health.baseline_done, health.failures, health.outage_notified = True, 0, False
            health.failing_since, health.failure_reason = None, None
            health.last_polled_at = now
            subscriptions = self._active_subscriptions(session, project_id)
            for transition in diff.transitions:
                row = self._add_transition(session, transition)
                for subscription in self._audience(subscriptions, transition, allows_channel):
                    self._add_delivery(session, row.id, subscription.channel_id, subscription.flat, now)
                recorded.append(transition)
            if diff.deleted:
                # A deleted deployment's own subscriptions end; `--all` ones stay, and forget its mute, so
                # a new deployment of that name is heard.
                session.execute(
                    delete(SubscriptionRow).where(
                        SubscriptionRow.project_id == project_id, SubscriptionRow.target.in_(diff.deleted)
                    )
                )
                for subscription in subscriptions:
                    muted = subscription.muted or []
                    if subscription.target == ALL_DEPLOYMENTS and set(muted) & set(diff.deleted):
                        subscription.muted = [name for name in muted if name not in diff.deleted]
        return recorded

    @threaded
    def record_failed_poll(
        self,
        project_id: int,
        now: datetime,
        alert_after: int,
        *,
        reason: str,
        allows_channel: ChannelRule = every_channel,
    ) -> Transition | None:
        """Count a failed poll, why it failed (a code of ``bot.gcore.errors.failure_reason``) and, on the
        first of a run, since when; the "can't reach Gcore" notice when this one reaches ``alert_after``."""
        with self._sessions.begin() as session:
            self._fence_project(session, project_id)
            health = session.get(ProjectHealthRow, project_id) or ProjectHealthRow(
                project_id=project_id, baseline_done=False, failures=0, outage_notified=False
            )
            session.add(health)
            health.failures = (health.failures or 0) + 1
            health.failure_reason = reason[:REASON_MAX_CHARS]
            if health.failing_since is None:
                health.failing_since = now
            if health.failures < alert_after or health.outage_notified:
                return None
            health.outage_notified = True
            return self._add_project_notice(
                session,
                project_id,
                AlertKind.GCORE_UNREACHABLE,
                now,
                allows_channel,
                since=health.failing_since,
                detail=health.failure_reason,
            )

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
                        "snapshot": snapshot_json(states[name].snapshot),
                        "unsettled_since": states[name].unsettled_since,
                        "stuck_alerted": states[name].stuck_alerted,
                        "problem": states[name].problem,
                        "changes": [moment.isoformat() for moment in states[name].changes],
                        "flapping": states[name].flapping,
                        "episode": states[name].episode,
                        "episode_open": states[name].episode_open,
                        "spec": state_spec_json(states[name]),
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
    def _audience(
        subscriptions: list[SubscriptionRow], transition: Transition, allows_channel: ChannelRule
    ) -> list[SubscriptionRow]:
        """One subscription per allowed channel that wants the transition: a named one before ``--all``."""
        chosen: dict[str, SubscriptionRow] = {}
        for row in sorted(subscriptions, key=lambda r: r.target == ALL_DEPLOYMENTS):
            if row.target not in (transition.name, ALL_DEPLOYMENTS) or row.channel_id in chosen:
                continue
            if not allows_channel(row.channel_id):
                continue
            if row.target == ALL_DEPLOYMENTS and transition.name in (row.muted or ()):
                continue
            if row.only_problems and not transition.problem:
                continue
            chosen[row.channel_id] = row
        return list(chosen.values())

    @staticmethod
    def _add_transition(session: Session, transition: Transition) -> TransitionRow:
        row = TransitionRow(
            **{column: getattr(transition, column) for column in TRANSITION_COLUMNS},
            kind=transition.kind,
            at=transition.at,
            since=transition.since,
            snapshot=snapshot_json(transition.snapshot) if transition.snapshot else None,
            changes=changes_json(transition.changes),
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
        self,
        session: Session,
        project_id: int,
        kind: AlertKind,
        now: datetime,
        allows_channel: ChannelRule,
        *,
        since: datetime | None,
        detail: str | None = None,
    ) -> Transition:
        """A notice about the project, not one deployment: one delivery to each channel watching it, however
        many of its subscriptions (named, ``--all``) that channel has."""
        notice = Transition(
            project_id=project_id,
            name="",
            kind=kind,
            at=now,
            problem=True,
            detail=detail,
            since=utc(since) if since else None,
        )
        row = self._add_transition(session, notice)
        channels = {
            sub.channel_id
            for sub in self._active_subscriptions(session, project_id)
            if allows_channel(sub.channel_id)
        }
        for channel_id in sorted(channels):
            self._add_delivery(session, row.id, channel_id, True, now)
        return notice
