"""Subscriptions: `watch`, `unwatch`, `watching`, and the Watch/Unwatch buttons on cards and alerts."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions import ActionId, DeploymentRef, SubscriptionRef, read_value
from bot.channels import ensure_channel_access
from bot.commands import ONLY_PROBLEMS, ParsedCommand, deployment_name_arg, resolve_project
from bot.errors import BadArgument
from bot.models import Deployment
from bot.services import Services
from bot.subscriptions import ALL_DEPLOYMENTS, SubscribeOutcome
from formatters.deployment import render_deployment_card
from formatters.subscriptions import (
    render_not_watching,
    render_unwatch_result,
    render_watch_result,
    render_watching,
)
from handlers.cards import fresh_card
from handlers.errors import replies_on_error

WATCH_USAGE = "`/inference watch my-instance` (or `--all`)"
UNWATCH_USAGE = "`/inference unwatch my-instance` (or `--all`)"


def _target(parsed: ParsedCommand, usage: str) -> str:
    if "--all" in parsed.switches:
        if parsed.args:
            raise BadArgument(f"Either a deployment name or `--all`, not both: {usage}.")
        return ALL_DEPLOYMENTS
    return deployment_name_arg(parsed, usage)


def _only_problems(parsed: ParsedCommand) -> bool:
    only = parsed.option("--only")
    if only is not None and only != ONLY_PROBLEMS:
        raise BadArgument(
            f"`--only` takes `{ONLY_PROBLEMS}`, as in `/inference watch my-instance --only problems`."
        )
    return only == ONLY_PROBLEMS


async def watch(
    services: Services,
    client: AsyncWebClient,
    parsed: ParsedCommand,
    command: dict[str, Any],
    respond: AsyncRespond,
) -> None:
    """`/inference watch`: check the channel and the deployment, then subscribe."""
    target = _target(parsed, WATCH_USAGE)
    only_problems = _only_problems(parsed)
    project_id = resolve_project(parsed.project_id, services.settings.gcore_cloud_project_id)
    _, announcement = await _subscribe(
        services,
        client,
        channel_id=command["channel_id"],
        user_id=command["user_id"],
        project_id=project_id,
        target=target,
        only_problems=only_problems,
        flat="--flat" in parsed.switches,
    )
    await respond(**announcement)


async def _subscribe(
    services: Services,
    client: AsyncWebClient,
    *,
    channel_id: str,
    user_id: str,
    project_id: int,
    target: str,
    only_problems: bool,
    flat: bool,
) -> tuple[Deployment | None, dict[str, Any]]:
    """Check the channel and the deployment, then subscribe.

    Returns the deployment (None for ``--all``) and the reply announcing it, as ``respond`` arguments:
    visible in the channel when something changed, to the asker alone otherwise.
    """
    await ensure_channel_access(client, channel_id)
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
    )
    reply = render_watch_result(subscription, outcome, user_id)
    visibility = "ephemeral" if outcome is SubscribeOutcome.UNCHANGED else "in_channel"
    return deployment, {**reply.as_kwargs(), "response_type": visibility, "replace_original": False}


async def unwatch(
    services: Services, parsed: ParsedCommand, command: dict[str, Any], respond: AsyncRespond
) -> None:
    """`/inference unwatch`: remove the channel's subscription."""
    target = _target(parsed, UNWATCH_USAGE)
    project_id = resolve_project(parsed.project_id, services.settings.gcore_cloud_project_id)
    await _unwatch(services, command["channel_id"], command["user_id"], project_id, target, respond)


async def _unwatch(
    services: Services, channel_id: str, user_id: str, project_id: int, target: str, respond: AsyncRespond
) -> None:
    removed = await services.store.unsubscribe(channel_id, project_id, target)
    if removed is None:
        covering = await services.store.watching(channel_id, project_id, target)
        reply = render_not_watching(
            target, project_id, watches_all=covering is not None and covering.watches_all
        )
        await respond(**reply.as_kwargs(), response_type="ephemeral", replace_original=False)
        return
    done = render_unwatch_result(removed, user_id)
    await respond(**done.as_kwargs(), response_type="in_channel", replace_original=False)


async def watching(services: Services, command: dict[str, Any], respond: AsyncRespond) -> None:
    """`/inference watching`: the channel's subscriptions with Unwatch buttons."""
    subscriptions = await services.store.channel_subscriptions(command["channel_id"])
    await respond(**render_watching(subscriptions).as_kwargs(), response_type="ephemeral")


def register(app: AsyncApp, services: Services) -> None:
    """Register the Watch/Unwatch buttons and the alert's Refresh."""

    @app.action(ActionId.WATCH_DEPLOYMENT)
    @replies_on_error
    async def on_watch(
        ack: AsyncAck, respond: AsyncRespond, client: AsyncWebClient, body: dict[str, Any]
    ) -> None:
        await ack()
        ref = read_value(DeploymentRef, body)
        deployment, announcement = await _subscribe(
            services,
            client,
            channel_id=body["channel"]["id"],
            user_id=body["user"]["id"],
            project_id=ref.project_id,
            target=ref.name,
            only_problems=False,
            flat=False,
        )
        if deployment is not None:
            card = render_deployment_card(deployment, services.clock(), watching=True)
            await respond(**card.as_kwargs(), replace_original=True)
        await respond(**announcement)

    @app.action(ActionId.UNWATCH_DEPLOYMENT)
    @replies_on_error
    async def on_unwatch(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        ref = read_value(DeploymentRef, body)
        await _unwatch(services, body["channel"]["id"], body["user"]["id"], ref.project_id, ref.name, respond)

    @app.action(ActionId.UNWATCH_SUBSCRIPTION)
    @replies_on_error
    async def on_unwatch_row(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        ref = read_value(SubscriptionRef, body)
        channel_id = body["channel"]["id"]
        removed = await services.store.unsubscribe_id(ref.id, channel_id)
        remaining = await services.store.channel_subscriptions(channel_id)
        await respond(**render_watching(remaining).as_kwargs(), replace_original=True)
        if removed is not None:
            done = render_unwatch_result(removed, body["user"]["id"])
            await respond(**done.as_kwargs(), response_type="in_channel", replace_original=False)

    @app.action(ActionId.ALERT_REFRESH)
    @replies_on_error
    async def on_alert_refresh(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        ref = read_value(DeploymentRef, body)
        card = await fresh_card(services, body["channel"]["id"], ref.project_id, ref.name, in_channel=True)
        await respond(**card.as_kwargs(), replace_original=True)
