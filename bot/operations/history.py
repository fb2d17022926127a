"""A deployment's history: its latest episodes from the store, and whether the channel watches it."""

from __future__ import annotations

import asyncio

from bot.history import History
from bot.services import Services


async def deployment_history(
    services: Services, channel_id: str, project_id: int, name: str
) -> tuple[History, bool]:
    """Read the deployment's history and the channel's subscription to it together; the history, and
    whether the channel watches it. No Gcore call: the history is what the watcher recorded."""
    history, subscription = await asyncio.gather(
        services.store.history(project_id, name), services.store.watching(channel_id, project_id, name)
    )
    return history, subscription is not None
