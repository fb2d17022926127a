"""What the Logs button shows: a deployment's newest log lines, from every region, as Gcore has them now."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from bot.actions import DeploymentRef
from bot.gcore.models import LogEntry
from bot.services import Services

# Lines the Logs button shows the clicker.
LOGS_ON_CLICK = 50


@dataclass(frozen=True)
class RecentLogs:
    """A deployment's newest lines, newest first as Gcore answers, and the region names to tell them by."""

    entries: list[LogEntry]
    regions: Mapping[int, str]


async def logs_on_click(services: Services, ref: DeploymentRef) -> RecentLogs:
    """The newest ``LOGS_ON_CLICK`` lines and the region names, fetched together. ``DeploymentNotFound``
    when the deployment is gone, Gcore's own errors when it cannot answer (each worded for the clicker by
    ``formatters.errors``); the names never fail, at worst there are none."""
    entries, names = await asyncio.gather(
        services.gcore.get_logs(ref.project_id, ref.name, limit=LOGS_ON_CLICK), services.regions.names()
    )
    return RecentLogs(entries[:LOGS_ON_CLICK], names)
