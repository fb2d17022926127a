"""Pacing posts per channel, as Slack's rate limits ask."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Slack's documented posting limit is about one message per second per channel. Slack tolerates short
# bursts, but a burst is exactly when a 429 would delay the alerts behind it, so we do not spend one; and
# we space posts 1.1 s apart, because a post can leave our event loop up to ~0.1 s after its turn and the
# next one on time (the fan-out benchmark saw 0.87 s between arrivals at exactly 1.0 s).
CHANNEL_RATE_PER_SECOND = 1 / 1.1
CHANNEL_BURST = 1


class ChannelRateLimiter:
    """A token bucket per channel: ``burst`` messages at once, then ``rate`` a second."""

    def __init__(
        self,
        rate: float = CHANNEL_RATE_PER_SECOND,
        burst: int = CHANNEL_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate, self._burst, self._clock, self._sleep = rate, burst, clock, sleep
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, channel_id: str) -> None:
        """Wait until ``channel_id`` may get another message."""
        now = self._clock()
        tokens, at = self._buckets.get(channel_id, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - at) * self._rate)
        if tokens < 1.0:
            wait = (1.0 - tokens) / self._rate
            await self._sleep(wait)
            now, tokens = now + wait, 1.0
        self._buckets[channel_id] = (tokens - 1.0, now)

    def hold(self, channel_id: str, seconds: float) -> None:
        """Let nothing more go to ``channel_id`` for ``seconds`` (Slack's ``Retry-After``)."""
        self._buckets[channel_id] = (-seconds * self._rate, self._clock())
