"""Subscribing a channel to a deployment (or a whole project), and ending a subscription."""

from __future__ import annotations

from dataclasses import dataclass

from bot.gcore.models import Deployment
from bot.services import Services
from bot.slack.api import SlackApi
from bot.slack.channels import ensure_channel_access
from bot.watch.subscriptions import ALL_DEPLOYMENTS, SubscribeOutcome, Subscription


@dataclass(frozen=True)
class Subscribed:
    """What ``subscribe`` did: the subscription, how it changed, and the deployment (None for ``--all``)."""

    subscription: Subscription
    outcome: SubscribeOutcome
    deployment: Deployment | None


@dataclass(frozen=True)
class Unwatched:
    """What ``unsubscribe`` did: the subscription removed, or None and whether ``--all`` still covers it."""

    removed: Subscription | None
    watches_all: bool


async def subscribe(
    services: Services,
    slack: SlackApi,
    *,
    channel_id: str,
    user_id: str,
    project_id: int,
    target: str,
    only_problems: bool,
    flat: bool,
    notify: tuple[str, ...] | None = None,
) -> Subscribed:
    """Check that the bot can post in the channel and that the deployment exists, then subscribe.
    ``notify`` replaces who problem alerts mention (``()``: no one); None keeps who they mention now."""
    await ensure_channel_access(slack, channel_id)
    deployment = None
    if target != ALL_DEPLOYMENTS:
        deployment = await services.gcore.get_deployment(project_id, target)
    subscription, outcome = await services.store.subscribe(
        channel_id=channel_id,
        project_id=project_id,
        target=target,
        only_problems=only_problems,
        flat=flat,
        created_by=user_id,
        now=services.clock(),
        notify=notify,
    )
    return Subscribed(subscription, outcome, deployment)


async def unsubscribe(services: Services, channel_id: str, project_id: int, target: str) -> Unwatched:
    """Remove the channel's subscription to ``target``."""
    removed = await services.store.unsubscribe(channel_id, project_id, target)
    if removed is not None:
        return Unwatched(removed, watches_all=False)
    covering = await services.store.watching(channel_id, project_id, target)
    return Unwatched(None, watches_all=covering is not None and covering.watches_all)
