"""A deployment's history: its latest episodes from the store, and whether the channel watches it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from bot.history import History
from bot.services import Services


async def deployment_history(
    services: Services, channel_id: str, project_id: int, name: str
) -> tuple[History, bool, Mapping[int, str]]:
    """Read the deployment's history, the channel's subscription to it and the region names together; the
    history, whether the channel watches it, and the names. The history is what the watcher recorded:
    Gcore is asked for region names only (cached, bounded, ids when they fail)."""
    history, subscription, names = await asyncio.gather(
        services.store.history(project_id, name),
        services.store.watching(channel_id, project_id, name),
        services.regions.names(),
    )
    return history, subscription is not None, names
