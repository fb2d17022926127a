"""The deployment card as it is now: what status, Refresh, Share, a list row and an alert's Refresh show."""

from __future__ import annotations

import asyncio

from bot.services import Services
from formatters.blocks import Message
from formatters.deployment import render_deployment_card


async def fresh_card(
    services: Services,
    channel_id: str,
    project_id: int,
    name: str,
    *,
    shared_by: str | None = None,
    in_channel: bool = False,
) -> Message:
    """Fetch the deployment and the channel's subscription to it together, and render the card."""
    deployment, subscription = await asyncio.gather(
        services.gcore.get_deployment(project_id, name), services.store.watching(channel_id, project_id, name)
    )
    return render_deployment_card(
        deployment,
        services.clock(),
        shared_by=shared_by,
        in_channel=in_channel,
        watching=subscription is not None,
    )
