"""What a deployment card shows: the deployment as Gcore has it now, whether the channel watches it, and
the names of its regions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from bot.gcore.models import Deployment
from bot.services import Services

T = TypeVar("T")


@dataclass(frozen=True)
class CardContent:
    """A card's facts: the deployment, whether the channel watches it, and region names by id (empty when
    the lookup failed: the card then shows ids)."""

    deployment: Deployment
    watching: bool
    regions: Mapping[int, str]
    # When the watcher saw it take its current status; None when it does not know.
    since: datetime | None = None


async def with_region_names(services: Services, work: Awaitable[T]) -> tuple[T, Mapping[int, str]]:
    """``work`` and the region names, fetched together. The names never fail and wait at most their own
    bounded lookup, so they delay ``work`` by no more than that; when ``work`` raises, so does this."""
    result, names = await asyncio.gather(work, services.regions.names())
    return result, names


async def deployment_for_card(services: Services, channel_id: str, project_id: int, name: str) -> CardContent:
    """Fetch the deployment, the channel's subscription to it and the region names together."""
    deployment, subscription, names = await asyncio.gather(
        services.gcore.get_deployment(project_id, name),
        services.store.watching(channel_id, project_id, name),
        services.regions.names(),
    )
    since = await services.store.status_since(project_id, name, deployment.status)
    return CardContent(deployment, subscription is not None, names, since)
