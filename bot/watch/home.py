"""Publishing the Home tab: at once to whoever opens it, and again, once, to each person who opened it
whenever what it shows changes.

After each poll the leader renders every viewer's view from the store (no Gcore call), takes a digest of
its content (the "updated" time left out, so a poll that changed nothing is no change), and publishes only
where the digest differs from the one stored for that person. Publishes share one pace, since Slack limits
``views.publish`` per workspace (Tier 4, 100+ a minute), not per person.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.access import Access
from bot.slack.api import WebApi
from bot.slack.errors import SlackCallFailed, SlackFailureKind
from bot.slack.pacing import ChannelRateLimiter
from bot.store import Store
from bot.watch.subscriptions import WatchedDeployment
from formatters.home import render_home

log = logging.getLogger(__name__)

# Slack's Tier 4 allows 100+ calls a minute per workspace; we stay at 100, a few at once.
PUBLISHES_PER_SECOND = 100 / 60
PUBLISH_BURST = 5
# The one key of the shared pace: every publish counts against the same workspace limit.
PACE_KEY = "views.publish"
# People who have not opened the tab for this long get no republishing; opening it again publishes at once.
VIEWER_DAYS = 30
# Slack's answers that mean the person cannot be published to (a deactivated or unknown user): forgotten
# until they open the tab again, instead of failing on every change.
GONE_USER_ERRORS = frozenset({"invalid_arguments", "user_not_found"})


def content_digest(view: dict[str, Any]) -> str:
    """A digest of a rendered view, equal for equal content."""
    return hashlib.sha256(json.dumps(view, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class HomePublisher:
    """Renders and publishes people's Home tabs; ``opened`` for one person now, ``publish_changed`` (run
    by ``run_forever`` when woken after a poll) for everyone whose view changed."""

    def __init__(
        self,
        slack: WebApi,
        store: Store,
        access: Access,
        *,
        clock: Callable[[], datetime],
        portal_url: str | None = None,
        limiter: ChannelRateLimiter | None = None,
    ) -> None:
        self._slack, self._store, self._access, self._clock = slack, store, access, clock
        self._portal_url = portal_url
        self._limiter = limiter or ChannelRateLimiter(PUBLISHES_PER_SECOND, PUBLISH_BURST)
        self._wake = asyncio.Event()

    async def opened(self, user_id: str) -> None:
        """``user_id`` opened the Home tab: publish their view now, with a fresh time, and remember them
        (after the publish, so that a round running meanwhile does not publish to them too)."""
        watched = await self._watched()
        operator = await self._is_operator(user_id)
        digest = content_digest(self._render(watched, operator, now=None))
        try:
            await self._slack.call(
                "views_publish", user_id=user_id, view=self._render(watched, operator, now=self._clock())
            )
        except SlackCallFailed:
            await self._store.record_home_view(user_id, self._clock(), None)
            raise
        await self._store.record_home_view(user_id, self._clock(), digest)

    def wake(self) -> None:
        """Ask for a round of republishing (the watcher calls it after each poll it led)."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Republish whenever woken; one round at a time, a wake during a round makes another."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.publish_changed()
            except Exception:
                log.exception("republishing the Home tab failed; trying again after the next poll")

    async def publish_changed(self) -> int:
        """Publish to each recent viewer whose view changed since it was last published to them; how many
        were published. A failure for one person is logged, and the others still get theirs."""
        viewers = await self._store.home_viewers(self._clock() - timedelta(days=VIEWER_DAYS))
        if not viewers:
            return 0
        watched = await self._watched()
        # Two renderings at most: with and without an operator's buttons.
        digests: dict[bool, str] = {}
        published = 0
        for user_id, last_digest in viewers.items():
            operator = await self._is_operator(user_id)
            if operator not in digests:
                digests[operator] = content_digest(self._render(watched, operator, now=None))
            if digests[operator] == last_digest:
                continue
            await self._limiter.acquire(PACE_KEY)
            view = self._render(watched, operator, now=self._clock())
            try:
                await self._slack.call("views_publish", user_id=user_id, view=view)
            except SlackCallFailed as failed:
                self._failed(user_id, failed)
                if failed.failure.code in GONE_USER_ERRORS:
                    await self._store.forget_home_viewer(user_id)
                continue
            await self._store.mark_home_published(user_id, digests[operator], self._clock())
            published += 1
        return published

    def _failed(self, user_id: str, failed: SlackCallFailed) -> None:
        """Log a failed publish; a 429 holds the shared pace, and the person is tried again after the next
        poll, since their stored digest is unchanged."""
        failure = failed.failure
        if failure.kind is SlackFailureKind.RATE_LIMITED:
            self._limiter.hold(PACE_KEY, failure.retry_after)
        log.warning("could not publish the Home tab of %s: %s", user_id, failure.code)

    async def _watched(self) -> list[WatchedDeployment]:
        """What the Home tab lists: the store's watched deployments of the projects people may see."""
        return [
            d for d in await self._store.watched_deployments() if self._access.allows_project(d.project_id)
        ]

    async def _is_operator(self, user_id: str) -> bool:
        """Whether ``user_id`` gets Stop and Start buttons; a failed group lookup shows none (the click is
        authorized again anyway)."""
        operators = self._access.operators
        if not operators.enabled:
            return False
        with contextlib.suppress(SlackCallFailed):
            return await operators.includes(user_id)
        return False

    def _render(
        self, watched: list[WatchedDeployment], operator: bool, *, now: datetime | None
    ) -> dict[str, Any]:
        return render_home(watched, now=now, operator=operator, portal_url=self._portal_url)
