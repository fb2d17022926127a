"""The per-channel token bucket that keeps alerts under Slack's posting limit."""

from __future__ import annotations

from bot.slack.pacing import ChannelRateLimiter


class FakeTime:
    """A clock and a sleep that advances it: the limiter's collaborators, without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_burst_then_one_per_second_per_channel() -> None:
    time = FakeTime()
    limiter = ChannelRateLimiter(rate=1.0, burst=3, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        await limiter.acquire("C1")
    assert time.slept == []
    for _ in range(4):
        await limiter.acquire("C1")
    assert time.slept == [1.0, 1.0, 1.0, 1.0]
    await limiter.acquire("C2")  # another channel has its own bucket
    assert len(time.slept) == 4


async def test_bucket_refills_while_idle() -> None:
    time = FakeTime()
    limiter = ChannelRateLimiter(rate=1.0, burst=3, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        await limiter.acquire("C1")
    time.now += 10
    for _ in range(3):
        await limiter.acquire("C1")
    assert time.slept == []
