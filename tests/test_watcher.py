"""The watcher's cycle against a real store and a scripted Gcore: every poll of a cycle ends inside it,
whatever another poll raises, so no poll overlaps the next cycle's and no transition is recorded twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from bot.gcore.client import GcoreClient, PageShape, StatusListing
from bot.gcore.models import DeploymentStatusView
from bot.store import Store
from bot.watch.notifier import Notifier
from bot.watch.subscriptions import ALL_DEPLOYMENTS
from bot.watch.transitions import WatchRules
from bot.watch.watcher import Watcher
from tests.databases import sqlite_url

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=60)


class ScriptedGcore:
    """Project 1 raises a bug of ours while ``broken``; project 2 lists one deployment after ``delay``."""

    def __init__(self) -> None:
        self.status, self.delay, self.broken = "ACTIVE", 0.0, False

    async def list_statuses(self, project_id: int, known: tuple[PageShape, ...] = ()) -> StatusListing:
        if project_id == 1:
            if self.broken:
                raise RuntimeError("a bug while polling project 1")
            return StatusListing((), [])
        await asyncio.sleep(self.delay)
        return StatusListing((), [DeploymentStatusView(name="model-a", status=self.status)])

    async def get_deployment_status(self, project_id: int, name: str) -> Any:
        raise AssertionError("nothing is missing from these listings")


class QuietNotifier:
    def wake(self) -> None:
        """Nothing to deliver in these tests."""


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    store = Store(sqlite_url(tmp_path))
    for project in (1, 2):
        await store.subscribe(
            channel_id="C0OPS",
            project_id=project,
            target=ALL_DEPLOYMENTS,
            only_problems=False,
            flat=True,
            created_by="U0ALICE",
            now=NOW,
        )
    yield store
    store.close()


async def test_a_poll_that_raises_leaves_no_other_poll_running_into_the_next_cycle(store: Store) -> None:
    gcore, clock = ScriptedGcore(), [NOW]
    watcher = Watcher(
        cast(GcoreClient, gcore),
        store,
        cast(Notifier, QuietNotifier()),
        clock=lambda: clock[0],
        rules=WatchRules(),
        interval=INTERVAL,
        outage_alert_after=3,
        allows_project=lambda _: True,
        allows_channel=lambda _: True,
    )
    await watcher.run_cycle()  # the baseline
    clock[0] += INTERVAL
    gcore.status, gcore.delay, gcore.broken = "DISABLED", 0.3, True
    first = await watcher.run_cycle()
    # Project 1's bug is that project's failed poll; project 2's slow poll finished within the cycle.
    assert (first.failed, first.transitions, watcher.in_flight()) == ([1], 1, 0)
    gcore.broken = False
    clock[0] += INTERVAL
    second = await watcher.run_cycle()
    assert second.transitions == 0
    recorded = [job.transition for job in await store.open_deliveries()]
    assert [(t.project_id, t.name, t.old_status, t.new_status) for t in recorded] == [
        (2, "model-a", "ACTIVE", "DISABLED")
    ]
