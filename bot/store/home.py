"""The Home tab: who opened it and what was last published to each (a digest), and the deployments it
lists, read from the subscriptions and the watcher's last snapshots (no Gcore call)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import delete, select

from bot.store.base import StoreBase
from bot.store.convert import snapshot_from
from bot.store.engine import threaded
from bot.store.schema import DeploymentStateRow, HomeViewRow, SubscriptionRow
from bot.watch.subscriptions import ALL_DEPLOYMENTS, WatchedDeployment


class HomeViews(StoreBase):
    """Reads and writes of the Home tab's viewers, and the one read of what it shows."""

    @threaded
    def record_home_view(self, user_id: str, now: datetime, digest: str | None) -> None:
        """Remember that ``user_id`` opened the Home tab now and was shown the view of ``digest`` (None:
        the publish failed, so the next round publishes). One write: a round never sees them half
        recorded, which would publish to them a second time."""
        with self._sessions.begin() as session:
            row = session.get(HomeViewRow, user_id) or HomeViewRow(user_id=user_id)
            session.add(row)
            row.opened_at, row.published_hash = now, digest
            if digest is not None:
                row.published_at = now

    @threaded
    def home_viewers(self, opened_since: datetime) -> dict[str, str | None]:
        """People who opened the Home tab since ``opened_since``, with the digest last published to each
        (None: nothing yet), by user id in order."""
        with self._sessions() as session:
            rows = session.execute(
                select(HomeViewRow.user_id, HomeViewRow.published_hash)
                .where(HomeViewRow.opened_at >= opened_since)
                .order_by(HomeViewRow.user_id)
            )
            return {user_id: digest for user_id, digest in rows}

    @threaded
    def mark_home_published(self, user_id: str, digest: str, now: datetime) -> None:
        """Keep the digest of the view just published to ``user_id``."""
        with self._sessions.begin() as session:
            row = session.get(HomeViewRow, user_id)
            if row is not None:
                row.published_hash, row.published_at = digest, now

    @threaded
    def forget_home_viewer(self, user_id: str) -> None:
        """Stop publishing to ``user_id`` (Slack refused them, e.g. a deactivated account) until they open
        the Home tab again."""
        with self._sessions.begin() as session:
            session.execute(delete(HomeViewRow).where(HomeViewRow.user_id == user_id))

    @threaded
    def watched_deployments(self) -> list[WatchedDeployment]:
        """Every deployment an active subscription covers, with the channels watching it: each named one,
        and each deployment the watcher knows in an ``--all`` subscription's project that it does not mute.
        By project, then name."""
        with self._sessions() as session:
            subscriptions = session.scalars(
                select(SubscriptionRow).where(SubscriptionRow.paused_reason.is_(None))
            ).all()
            projects = {row.project_id for row in subscriptions}
            states = {
                (row.project_id, row.name): row
                for row in session.scalars(
                    select(DeploymentStateRow).where(DeploymentStateRow.project_id.in_(projects))
                )
            }
        known: defaultdict[int, list[str]] = defaultdict(list)
        for project_id, name in states:
            known[project_id].append(name)
        channels: defaultdict[tuple[int, str], set[str]] = defaultdict(set)
        for subscription in subscriptions:
            if subscription.target != ALL_DEPLOYMENTS:
                channels[(subscription.project_id, subscription.target)].add(subscription.channel_id)
                continue
            muted = set(subscription.muted or ())
            for name in known[subscription.project_id]:
                if name not in muted:
                    channels[(subscription.project_id, name)].add(subscription.channel_id)
        return [
            WatchedDeployment(
                project_id=project_id,
                name=name,
                channels=tuple(sorted(watching)),
                snapshot=snapshot_from(states[(project_id, name)].snapshot)
                if (project_id, name) in states
                else None,
            )
            for (project_id, name), watching in sorted(channels.items())
        ]
