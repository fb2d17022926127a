"""The Watch/Unwatch buttons on cards and alerts (with, under ``watch --all``, the choice to mute one
deployment or stop the project), the Unwatch button of each `watching` row, and an alert's Card."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.actions import ActionId, DeploymentRef, SubscriptionRef, message_channel, read_value
from bot.operations.cards import deployment_for_card, with_region_names
from bot.operations.watching import subscribe, unsubscribe
from bot.services import Services
from bot.watch.subscriptions import ALL_DEPLOYMENTS
from formatters.deployment import render_deployment_card
from formatters.subscriptions import render_unwatch_result, render_watching, unwatch_reply, watch_replies
from formatters.unwatching import render_muted, render_unwatch_choice
from handlers.errors import replies_on_error


def register(app: AsyncApp, services: Services) -> None:
    """Register the Watch/Unwatch buttons and the alert's Refresh."""

    @app.action(ActionId.WATCH_DEPLOYMENT)
    @replies_on_error
    async def on_watch(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        channel_id = message_channel(body)
        ref = read_value(DeploymentRef, body, services.access)
        user_id = body["user"]["id"]
        done, regions = await with_region_names(
            services,
            subscribe(
                services,
                services.slack,
                channel_id=channel_id,
                user_id=user_id,
                project_id=ref.project_id,
                target=ref.name,
                only_problems=False,
                flat=False,
            ),
        )
        if done.deployment is not None:
            card = render_deployment_card(
                done.deployment,
                services.clock(),
                watching=True,
                regions=regions,
                portal_url=services.settings.gcore_portal_url,
                operate=services.access.operators.enabled,
            )
            await respond(**card.as_kwargs(), replace_original=True)
        for reply in watch_replies(done.subscription, done.outcome, user_id):
            await respond(**reply)

    @app.action(ActionId.UNWATCH_DEPLOYMENT)
    @replies_on_error
    async def on_unwatch(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        channel_id = message_channel(body)
        ref = read_value(DeploymentRef, body, services.access)
        done = await unsubscribe(services, channel_id, ref.project_id, ref.name)
        user_id = body["user"]["id"]
        if done.removed is None and done.watches_all:
            choice = render_unwatch_choice(ref)
            await respond(**choice.as_kwargs(), response_type="ephemeral", replace_original=False)
            return
        await respond(
            **unwatch_reply(
                done.removed, ref.name, ref.project_id, watches_all=done.watches_all, user_id=user_id
            )
        )

    @app.action(ActionId.UNWATCH_SUBSCRIPTION)
    @replies_on_error
    async def on_unwatch_row(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        channel_id = message_channel(body)
        ref = read_value(SubscriptionRef, body, services.access)
        removed = await services.store.unsubscribe_id(ref.id, channel_id)
        remaining = await services.store.channel_subscriptions(channel_id)
        await respond(**render_watching(remaining).as_kwargs(), replace_original=True)
        if removed is not None:
            done = render_unwatch_result(removed, body["user"]["id"])
            await respond(**done.as_kwargs(), response_type="in_channel", replace_original=False)

    @app.action(ActionId.MUTE_DEPLOYMENT)
    @replies_on_error
    async def on_mute(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        channel_id = message_channel(body)
        ref = read_value(DeploymentRef, body, services.access)
        if await services.store.mute(channel_id, ref.project_id, ref.name) is None:
            said = unwatch_reply(
                None, ref.name, ref.project_id, watches_all=False, user_id=body["user"]["id"]
            )
            await respond(**said)
            return
        muted = render_muted(ref, body["user"]["id"])
        await respond(**muted.as_kwargs(), response_type="in_channel", replace_original=False)

    @app.action(ActionId.UNWATCH_PROJECT)
    @replies_on_error
    async def on_unwatch_project(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        channel_id = message_channel(body)
        ref = read_value(DeploymentRef, body, services.access)
        done = await unsubscribe(services, channel_id, ref.project_id, ALL_DEPLOYMENTS)
        user_id = body["user"]["id"]
        await respond(
            **unwatch_reply(done.removed, ALL_DEPLOYMENTS, ref.project_id, watches_all=False, user_id=user_id)
        )

    @app.action(ActionId.ALERT_REFRESH)
    @replies_on_error
    async def on_alert_card(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        # The clicker's own card, ephemeral: the channel's alert stays as it is for everyone else.
        await ack()
        channel_id = message_channel(body)
        ref = read_value(DeploymentRef, body, services.access)
        found = await deployment_for_card(services, channel_id, ref.project_id, ref.name)
        card = render_deployment_card(
            found.deployment,
            services.clock(),
            since=found.since,
            watching=found.watching,
            regions=found.regions,
            portal_url=services.settings.gcore_portal_url,
            operate=services.access.operators.enabled,
        )
        await respond(**card.as_kwargs(), response_type="ephemeral", replace_original=False)
