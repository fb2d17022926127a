"""The drain's order and its bound (bot/lifecycle.py), with stand-ins for the work; the real thing, with
signals, a burst of commands and an alert in flight, is in tests/test_e2e_shutdown.py."""

from __future__ import annotations

import asyncio
import logging

import pytest
from starlette.applications import Starlette

from bot.health import Health
from bot.lifecycle import CLOSING_SECONDS, Drain, web_server


class Work:
    """Work that takes ``seconds`` to finish, noting in ``events`` what was asked of it."""

    def __init__(self, name: str, seconds: float, events: list[str]) -> None:
        self.name, self.seconds, self.events = name, seconds, events
        self.running = 1

    def in_flight(self) -> int:
        return self.running

    async def finish(self) -> None:
        self.events.append(f"{self.name} finishing")
        await asyncio.sleep(self.seconds)
        self.running = 0
        self.events.append(f"{self.name} finished")

    async def aclose(self) -> None:
        self.events.append(f"{self.name} cancelled")


async def drain_with(works: list[Work], events: list[str], seconds: float) -> tuple[Health, bool]:
    health = Health()
    server = web_server(Starlette(), "127.0.0.1", 0)
    drain = Drain(health, server, seconds=seconds)

    def close_intake() -> None:
        events.append(f"intake closed, draining={health.draining}")

    drain.stops_taking(close_intake)
    for work in works:
        drain.waits_for(work.name, work)
    stop = asyncio.Event()
    running = asyncio.create_task(drain.run(stop))
    await asyncio.sleep(0.05)
    assert not health.draining and events == []  # nothing before it is asked
    stop.set()
    await asyncio.wait_for(running, timeout=seconds + 1)
    return health, server.should_exit


async def test_the_drain_takes_nothing_new_then_finishes_the_work_in_order() -> None:
    events: list[str] = []
    works = [Work("requests", 0.1, events), Work("listeners", 0.1, events)]
    health, exits = await drain_with(works, events, seconds=CLOSING_SECONDS + 2)
    assert health.draining and exits
    assert events == [
        "intake closed, draining=True",
        "requests finishing",
        "requests finished",
        "listeners finishing",
        "listeners finished",
    ]


async def test_past_its_bound_the_drain_cancels_what_is_left_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []
    works = [Work("acknowledged Slack requests", 0.0, events), Work("channels' deliveries", 60.0, events)]
    loop = asyncio.get_running_loop()
    began = loop.time()
    with caplog.at_level(logging.INFO, logger="bot.lifecycle"):
        _, exits = await drain_with(works, events, seconds=CLOSING_SECONDS + 0.5)
    assert exits
    assert loop.time() - began < 0.05 + 0.5 + 1.5  # not the 60 s the work would take; margin for a busy CI
    assert events[-2:] == ["acknowledged Slack requests cancelled", "channels' deliveries cancelled"]
    (line,) = [r.getMessage() for r in caplog.records if "cut short" in r.getMessage()]
    assert line == "stopping: cut short after 0.5 s: 1 channels' deliveries"
