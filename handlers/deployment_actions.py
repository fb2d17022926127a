"""The deployment card's buttons: Refresh, Share in channel, View details, Open, and a list row's Status."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions import ActionId, CardRef, DeploymentRef, read_value
from bot.errors import UserFacingError
from bot.services import Services
from formatters.deployment import render_deployment_details, render_details_error, render_details_loading
from handlers.cards import fresh_card
from handlers.errors import replies_on_error


def register(app: AsyncApp, services: Services) -> None:
    """Register the card's button listeners."""

    @app.action(ActionId.REFRESH)
    @replies_on_error
    async def on_refresh(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        ref = read_value(CardRef, body)
        card = await fresh_card(
            services,
            body["channel"]["id"],
            ref.project_id,
            ref.name,
            shared_by=ref.shared_by,
            in_channel=ref.in_channel,
        )
        await respond(**card.as_kwargs(), replace_original=True)

    @app.action(ActionId.SHARE)
    @replies_on_error
    async def on_share(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        ref = read_value(CardRef, body)
        card = await fresh_card(
            services, body["channel"]["id"], ref.project_id, ref.name, shared_by=body["user"]["id"]
        )
        # Posting through response_url works in any channel the command ran in, member or not.
        await respond(**card.as_kwargs(), response_type="in_channel", replace_original=False)
        await respond(delete_original=True)

    @app.action(ActionId.DETAILS)
    @replies_on_error
    async def on_details(
        ack: AsyncAck, respond: AsyncRespond, client: AsyncWebClient, body: dict[str, Any]
    ) -> None:
        await ack()
        ref = read_value(CardRef, body)
        # The trigger_id expires in 3 seconds, so the modal opens before Gcore is asked.
        opened = await client.views_open(trigger_id=body["trigger_id"], view=render_details_loading(ref))
        try:
            deployment = await services.gcore.get_deployment(ref.project_id, ref.name)
            view = render_deployment_details(deployment)
        except UserFacingError as error:
            view = render_details_error(error.user_message)
        await client.views_update(view_id=opened["view"]["id"], view=view)

    @app.action(ActionId.SHOW_CARD)
    @replies_on_error
    async def on_show_card(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        ref = read_value(DeploymentRef, body)
        card = await fresh_card(services, body["channel"]["id"], ref.project_id, ref.name)
        await respond(**card.as_kwargs(), response_type="ephemeral", replace_original=False)

    @app.action(ActionId.OPEN_ADDRESS)
    async def on_open_address(ack: AsyncAck) -> None:
        # A link button opens the browser by itself; Slack still expects the action acknowledged.
        await ack()
