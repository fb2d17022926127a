"""The one way the bot calls Slack's Web API: a client built for its use, calls whose failures come back
classified, and paced posting for alerts.

Two kinds of client:
- for people's requests (listeners, channel checks): slack_sdk's retry handlers wait out a 429, retry a
  5xx and a dropped connection, so a busy Slack does not become an error in front of someone;
- for alerts: no retry handlers at all. The notifier paces its posts, waits out 429s itself, and looks a
  post up by its metadata before posting again; a retry inside slack_sdk could post an alert twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.errors import SlackCallFailed, SlackFailure, SlackFailureKind, classify
from bot.slack.pacing import ChannelRateLimiter

log = logging.getLogger(__name__)

# An alert post's timeout: a new leader waits a little longer than this before looking up a post that
# another replica may still have in flight.
POST_TIMEOUT_SECONDS = 15
MAX_RATE_LIMIT_WAITS = 5


def web_client(token: str, base_url: str, *, for_alerts: bool) -> AsyncWebClient:
    """A Web API client for people's requests (with retries) or for alerts (without)."""
    retries: list[AsyncRetryHandler] = []
    if not for_alerts:
        retries = [
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ]
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=POST_TIMEOUT_SECONDS if for_alerts else 30,
        retry_handlers=retries,
    )


class WebApi(Protocol):
    """What the watcher's side needs of Slack's Web API; ``SlackApi`` is the real one, tests bring a fake."""

    async def call(self, method: str, **kwargs: Any) -> Any:
        """Call ``method``; ``SlackCallFailed`` on any failure."""

    async def paced(
        self,
        method: str,
        channel_id: str,
        *,
        before: Callable[[], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``method`` for ``channel_id`` at the channel's pace, ``before`` right before each attempt;
        ``SlackCallFailed`` on any failure."""


class SlackApi:
    """Web API calls with classified failures; ``paced`` adds the per-channel pacing alerts need."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        limiter: ChannelRateLimiter | None = None,
        on_error: Callable[[str, str], None] = lambda method, code: None,
    ) -> None:
        """``on_error`` hears of each failed call: the method and Slack's error code (``bot.metrics``)."""
        self.client = client
        self._limiter, self._on_error = limiter or ChannelRateLimiter(), on_error

    async def call(self, method: str, **kwargs: Any) -> Any:
        """Call ``method`` (``chat_postMessage``, …); ``SlackCallFailed`` on any failure."""
        try:
            return await getattr(self.client, method)(**kwargs)
        except Exception as error:
            failure = classify(error)
            self._on_error(method, failure.code)
            raise SlackCallFailed(failure) from None

    async def paced(
        self,
        method: str,
        channel_id: str,
        *,
        before: Callable[[], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``method`` for ``channel_id``: a post or an edit waits its turn in the channel, and a 429 is
        waited out (a few times) before it counts as a failure. ``before`` runs right before each attempt,
        after any wait: the notifier claims its delivery there, so no claim spans a wait."""
        turns = method.startswith("chat_")
        for attempt in range(MAX_RATE_LIMIT_WAITS):
            # Posts and edits take a turn each; any other call waits only after a 429.
            if turns or attempt:
                await self._limiter.acquire(channel_id)
            if before is not None:
                await before()
            try:
                return await self.call(method, **kwargs)
            except SlackCallFailed as failed:
                if failed.failure.kind is not SlackFailureKind.RATE_LIMITED:
                    raise
                log.info(
                    "Slack rate limited %s in %s; waiting %.1f s",
                    method,
                    channel_id,
                    failed.failure.retry_after,
                )
                self._limiter.hold(channel_id, failed.failure.retry_after)
        raise SlackCallFailed(SlackFailure(SlackFailureKind.RATE_LIMITED, "ratelimited"))
