"""What a deployment card shows: the deployment as Gcore has it now, and whether the channel watches it."""

from __future__ import annotations

import asyncio

from bot.gcore.models import Deployment
from bot.services import Services


async def deployment_for_card(
    services: Services, channel_id: str, project_id: int, name: str
) -> tuple[Deployment, bool]:
    """Fetch the deployment and the channel's subscription to it together; the deployment, and whether the
    channel watches it."""
    deployment, subscription = await asyncio.gather(
        services.gcore.get_deployment(project_id, name), services.store.watching(channel_id, project_id, name)
    )
    return deployment, subscription is not None
