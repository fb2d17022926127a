"""The bot token: checked at start, and rechecked on a backoff after Slack rejects it mid-run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.health import Health
from bot.slack.api import WebApi
from bot.slack.errors import SlackCallFailed, SlackFailureKind

log = logging.getLogger(__name__)

# After a rejection: the first recheck after 1 s, doubling up to one a minute; held alerts go out soon after
# a passing rejection, and a revoked token costs seven auth.test calls in its first two minutes.
RECHECK_FIRST_SECONDS = 1.0
RECHECK_MAX_SECONDS = 60.0


class StartupError(Exception):
    """The bot cannot run as configured; the message says which setting to fix."""


async def check_slack_token(slack: WebApi) -> dict[str, Any]:
    """Fail fast on a rejected bot token; only warn when Slack cannot be reached right now. Returns
    ``auth.test``'s answer (the bot's team and user), or ``{}`` when Slack could not be asked."""
    try:
        identity: dict[str, Any] = await slack.call("auth_test")
    except SlackCallFailed as failed:
        if failed.failure.kind is SlackFailureKind.AUTH:
            raise StartupError(f"Slack rejected SLACK_BOT_TOKEN ({failed.failure.code})") from None
        log.warning("could not check the bot token with Slack (%s); starting anyway", failed.failure.code)
        return {}
    log.info("signed in to Slack team %s as %s", identity.get("team"), identity.get("user"))
    return identity


class TokenRecheck:
    """Waits out a rejected token: ``auth.test`` on a backoff until Slack accepts the token again.

    One rejection may be Slack's passing trouble as much as a revoked token: alerts are held, not dropped,
    and ``/healthz`` says unhealthy only while the token stays rejected.
    """

    def __init__(
        self,
        slack: WebApi,
        health: Health,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        first_delay: float = RECHECK_FIRST_SECONDS,
        max_delay: float = RECHECK_MAX_SECONDS,
    ) -> None:
        self._slack, self._health, self._sleep = slack, health, sleep
        self._first_delay, self._max_delay = first_delay, max_delay

    async def wait_until_valid(self) -> None:
        """Return once ``auth.test`` accepts the token, marking the bot healthy and ready again; also run
        at start when Slack could not be asked then."""
        delay = self._first_delay
        while self._health.slack_token_rejected is not None or not self._health.slack_token_checked:
            await self._sleep(delay)
            try:
                await self._slack.call("auth_test")
            except SlackCallFailed as failed:
                log.warning(
                    "Slack has not accepted the bot token yet (%s); next check in %.0f s", failed, delay
                )
                delay = min(delay * 2, self._max_delay)
                continue
            log.info("Slack accepts the bot token; delivering any alerts held meanwhile")
            self._health.slack_token_rejected, self._health.slack_token_checked = None, True
