"""Publishing the Home tab: at once to whoever opens it, and again, once, to each person who opened it
whenever what it shows changes.

After each poll the leader renders every viewer's view from the store (no Gcore call), takes a digest of
its content (the "updated" time left out, so a poll that changed nothing is no change), and publishes only
where the digest differs from the one stored for that person. It lists only what the access rules let
people see: allowed projects, and of each deployment only the allowed channels that watch it. One
``HomePublisher`` serves the opening of the tab and the rounds after polls (``Services.home``), so every
publish waits its turn at one pace: Slack limits ``views.publish`` per workspace (Tier 4, 100+ a minute),
not per person.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.access import Access, AccessDenied, AccessProblem
from bot.gcore.regions import RegionNames
from bot.slack.api import WebApi
from bot.slack.errors import SlackCallFailed, SlackFailureKind
from bot.slack.pacing import ChannelRateLimiter
from bot.store import Store
from bot.store.reach import failures_logged
from bot.watch.subscriptions import WatchedDeployment
from formatters.errors import error_sentence
from formatters.home import render_home
from formatters.refusals import render_refusal_home

log = logging.getLogger(__name__)

# Slack's Tier 4 allows 100+ calls a minute per workspace; we stay at 100, a few at once. ``users.info``
# is Tier 4 too, with a limit of its own.
PUBLISHES_PER_SECOND = 100 / 60
PUBLISH_BURST = 5
# The keys of the shared pace: every call of a method counts against the same workspace limit.
PACE_KEY = "views.publish"
LOOKUP_PACE_KEY = "users.info"
# People who have not opened the tab for this long get no republishing; opening it again publishes at once.
VIEWER_DAYS = 30
# How long a viewer who passed ``Access.check_user`` (at opening, or in a round) is not asked about again.
RECHECK_AFTER = timedelta(hours=1)
# Slack's answers to ``views.publish`` that may mean the person is gone: documented is ``invalid_arguments``
# for a user id that is not viable, which is also the answer to any view Slack finds invalid. So these only
# make ``users.info`` tell (unknown, or deactivated); a view Slack refused forgets nobody.
MAYBE_GONE_ERRORS = frozenset({"invalid_arguments", "user_not_found"})


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
        regions: RegionNames,
        *,
        clock: Callable[[], datetime],
        portal_url: str | None = None,
    ) -> None:
        self._slack, self._store, self._access, self._regions = slack, store, access, regions
        self._clock, self._portal_url = clock, portal_url
        self._limiter = ChannelRateLimiter(PUBLISHES_PER_SECOND, PUBLISH_BURST)
        # One publish at a time, each taking its turn at the pace: a stored digest is always that of the
        # view Slack has last, since publishes and their records cannot cross.
        self._turn = asyncio.Lock()
        # When each person last passed ``Access.check_user``, in this process (the settings are its own).
        self._passed: dict[str, datetime] = {}
        self._wake = asyncio.Event()

    async def opened(self, user_id: str) -> None:
        """``user_id``, who just passed ``Access.check_user``, opened the Home tab: publish their view now,
        with a fresh time, and remember them with its digest, or with none when the publish failed (the
        next round publishes then). A round under way may still publish to them too, rendered from what
        it read of the store before; the digest kept is always that of the view Slack got last (publishes
        and their records take turns), so the next round corrects an older view."""
        self._passed[user_id] = self._clock()
        watched, names = await self._watched()
        operator = await self._is_operator(user_id)
        digest = content_digest(self._render(watched, names, operator, now=None))
        view = self._render(watched, names, operator, now=self._clock())
        async with self._turn:
            try:
                await self._publish(user_id, view)
            except SlackCallFailed:
                await self._store.record_home_view(user_id, self._clock(), None)
                raise
            await self._store.record_home_view(user_id, self._clock(), digest)

    async def refused(self, user_id: str, denied: AccessDenied) -> None:
        """Publish to ``user_id``, whom the rules refuse the Home tab, why instead of what it lists;
        ``SlackCallFailed`` when that fails."""
        async with self._turn:
            await self._publish(user_id, render_refusal_home(error_sentence(denied)))

    def wake(self) -> None:
        """Ask for a round of republishing (the watcher calls it after each poll it led)."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Republish whenever woken; one round at a time, a wake during a round makes another."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            with failures_logged(log, "republishing the Home tab failed; trying again after the next poll"):
                await self.publish_changed()

    async def publish_changed(self) -> int:
        """Publish to each recent viewer whose view changed since it was last published to them, and who
        may still see it; how many were published. A failure for one person is logged, and the others still
        get theirs."""
        viewers = await self._store.home_viewers(self._clock() - timedelta(days=VIEWER_DAYS))
        if not viewers:
            return 0
        watched, names = await self._watched()
        # Two renderings at most: with and without an operator's buttons.
        digests: dict[bool, str] = {}
        published = 0
        for user_id, last_digest in viewers.items():
            operator = await self._is_operator(user_id)
            if operator not in digests:
                digests[operator] = content_digest(self._render(watched, names, operator, now=None))
            if digests[operator] == last_digest or not await self._may_see(user_id):
                continue
            view = self._render(watched, names, operator, now=self._clock())
            if await self._republish(user_id, view, digests[operator]):
                published += 1
        return published

    async def _republish(self, user_id: str, view: dict[str, Any], digest: str) -> bool:
        """Publish ``view`` to ``user_id`` in turn and keep its digest; False when Slack refused it (logged:
        tried again after the next poll, since the stored digest is unchanged), or the person is gone."""
        async with self._turn:
            try:
                await self._publish(user_id, view)
            except SlackCallFailed as failed:
                log.warning("could not publish the Home tab of %s: %s", user_id, failed.failure.code)
                code = failed.failure.code
            else:
                await self._store.mark_home_published(user_id, digest, self._clock())
                return True
        if code in MAYBE_GONE_ERRORS and await self._gone(user_id):
            await self._forget(user_id, "their account is deactivated or unknown")
        return False

    async def _may_see(self, user_id: str) -> bool:
        """Whether a viewer may still see the Home tab (``Access.check_user``: ALLOW_EXTERNAL_USERS), asked
        at most once an hour per person. Refused, they are shown why and forgotten; when Slack cannot tell,
        they are skipped this round and asked again at the next."""
        passed = self._passed.get(user_id)
        if passed is not None and self._clock() - passed < RECHECK_AFTER:
            return True
        await self._limiter.acquire(LOOKUP_PACE_KEY)
        try:
            await self._access.check_user(user_id)
        except AccessDenied as denied:
            if denied.problem is AccessProblem.ORGANIZATION_UNKNOWN:
                log.warning("not republishing the Home tab of %s: the bot's own team is unknown", user_id)
                return False
            await self._forget(user_id, str(denied))
            with contextlib.suppress(SlackCallFailed):
                await self.refused(user_id, denied)
            return False
        except SlackCallFailed as failed:
            log.warning("could not tell whose Home tab %s is (%s)", user_id, failed.failure.code)
            if failed.failure.code == "user_not_found":
                await self._forget(user_id, "their account is unknown")
            return False
        self._passed[user_id] = self._clock()
        return True

    async def _gone(self, user_id: str) -> bool:
        """Whether Slack says ``user_id`` is no more: unknown, or deactivated (``users.info``)."""
        await self._limiter.acquire(LOOKUP_PACE_KEY)
        try:
            user = (await self._slack.call("users_info", user=user_id)).get("user") or {}
        except SlackCallFailed as failed:
            return failed.failure.code == "user_not_found"
        return bool(user.get("deleted"))

    async def _forget(self, user_id: str, why: str) -> None:
        """No more republishing to ``user_id`` until they open the tab again (and pass at that time)."""
        log.info("no longer republishing the Home tab of %s: %s", user_id, why)
        self._passed.pop(user_id, None)
        await self._store.forget_home_viewer(user_id)

    async def _publish(self, user_id: str, view: dict[str, Any]) -> None:
        """Publish ``view`` to ``user_id`` at the shared pace, in the caller's turn; ``SlackCallFailed`` on
        a failure, a 429 holding the pace for as long as Slack asks."""
        await self._limiter.acquire(PACE_KEY)
        try:
            await self._slack.call("views_publish", user_id=user_id, view=view)
        except SlackCallFailed as failed:
            if failed.failure.kind is SlackFailureKind.RATE_LIMITED:
                self._limiter.hold(PACE_KEY, failed.failure.retry_after)
            raise

    async def _watched(self) -> tuple[list[WatchedDeployment], Mapping[int, str]]:
        """What the Home tab lists, and the regions' names: the store's watched deployments of the projects
        people may see, each with only the allowed channels that watch it; one no allowed channel watches is
        left out."""
        watched = []
        for deployment in await self._store.watched_deployments():
            channels = tuple(c for c in deployment.channels if self._access.allows_channel(c))
            if channels and self._access.allows_project(deployment.project_id):
                watched.append(replace(deployment, channels=channels))
        return watched, await self._regions.names()

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
        self,
        watched: list[WatchedDeployment],
        names: Mapping[int, str],
        operator: bool,
        *,
        now: datetime | None,
    ) -> dict[str, Any]:
        return render_home(watched, now=now, operator=operator, portal_url=self._portal_url, regions=names)
