"""A deployment's newest log lines as Gcore has them now: for an alert's Logs button and for ``logs``."""

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


async def recent_logs(
    services: Services, ref: DeploymentRef, *, limit: int = LOGS_ON_CLICK, region_id: int | None = None
) -> RecentLogs:
    """The newest ``limit`` lines (of one region when ``region_id`` is given, filtered by Gcore) and the
    region names, fetched together. ``DeploymentNotFound`` when the deployment is gone, Gcore's own errors
    when it cannot answer (each worded by ``formatters.errors``); the names never fail, at worst there are
    none."""
    entries, names = await asyncio.gather(
        services.gcore.get_logs(ref.project_id, ref.name, limit=limit, region_id=region_id),
        services.regions.names(),
    )
    return RecentLogs(entries[:limit], names)
