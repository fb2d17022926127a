"""Pausing a channel's alerts when it really cannot take them, and resuming them when it can again.

A failed post says ``channel_not_found`` or ``not_in_channel`` now and then for a channel that is fine, so
``conversations.info`` confirms before anything is paused. Paused channels are checked again on a schedule
and resume by themselves; the people who made the subscriptions hear of both, by direct message.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bot.slack.api import WebApi
from bot.slack.errors import SlackCallFailed, SlackFailureKind
from bot.store import Store
from bot.watch.subscriptions import Subscription
from formatters.alerts import render_paused_notice, render_resumed_notice
from formatters.blocks import Message

log = logging.getLogger(__name__)

DEFAULT_RECHECK_SECONDS = 3600


class ChannelPauses:
    """Decides whether a channel is gone, pauses and resumes its subscriptions, and tells their creators."""

    def __init__(self, slack: WebApi, store: Store, *, recheck_seconds: int) -> None:
        self._slack, self._store, self._recheck_seconds = slack, store, recheck_seconds

    async def unreachable_reason(self, channel_id: str) -> str | None:
        """Why the bot cannot post in the channel, as ``conversations.info`` sees it now; None when it can.
        ``SlackCallFailed`` when Slack could not say (a 429, a 5xx): that proves nothing either way."""
        try:
            answer = await self._slack.call("conversations_info", channel=channel_id)
        except SlackCallFailed as failed:
            if failed.failure.kind is SlackFailureKind.CHANNEL_GONE:
                return failed.failure.code
            raise
        channel: dict[str, Any] = answer.get("channel") or {}
        if channel.get("is_archived"):
            return "is_archived"
        if not (channel.get("is_member") or channel.get("is_im")):
            return "not_in_channel"
        return None

    async def pause_if_gone(self, channel_id: str, code: str) -> bool:
        """After a post failed with ``code``: pause the channel if Slack confirms it cannot take alerts.
        True when paused (or already was); False when the failure looks passing and is worth a retry."""
        try:
            reason = await self.unreachable_reason(channel_id)
        except SlackCallFailed as failed:
            log.warning(
                "Slack said %s for %s and could not confirm it (%s); will retry", code, channel_id, failed
            )
            return False
        if reason is None:
            log.warning("Slack said %s for %s, but the channel looks fine; will retry", code, channel_id)
            return False
        paused = await self._store.pause_channel(channel_id, reason)
        if paused:
            log.warning("paused %d subscriptions of channel %s: %s", len(paused), channel_id, reason)
            notice = functools.partial(
                render_paused_notice, channel_id, reason=reason, recheck_seconds=self._recheck_seconds
            )
            await self._tell_creators(paused, notice)
        return True

    async def resume_reachable(self) -> int:
        """Resume every paused channel the bot can post in again; how many channels resumed."""
        resumed = 0
        for channel_id in await self._store.paused_channels():
            try:
                if await self.unreachable_reason(channel_id) is not None:
                    continue
            except SlackCallFailed as failed:
                log.info("could not check paused channel %s (%s); trying again later", channel_id, failed)
                continue
            subscriptions = await self._store.resume_channel(channel_id)
            if not subscriptions:
                continue
            resumed += 1
            log.info("resumed %d subscriptions of channel %s", len(subscriptions), channel_id)
            await self._tell_creators(subscriptions, functools.partial(render_resumed_notice, channel_id))
        return resumed

    async def _tell_creators(
        self, subscriptions: list[Subscription], render: Callable[[list[Subscription]], Message]
    ) -> None:
        by_creator: dict[str, list[Subscription]] = defaultdict(list)
        for subscription in subscriptions:
            by_creator[subscription.created_by].append(subscription)
        for user_id, theirs in by_creator.items():
            notice = render(theirs)
            try:
                await self._slack.paced("chat_postMessage", user_id, channel=user_id, **notice.as_kwargs())
            except SlackCallFailed as failed:
                log.warning(
                    "could not tell %s about channel %s: %s", user_id, subscriptions[0].channel_id, failed
                )
