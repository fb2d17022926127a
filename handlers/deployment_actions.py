"""The deployment card's buttons: Refresh, Share in channel, View details, Open, Open in Gcore, and a list
row's Status."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.actions import ActionId, CardRef, DeploymentRef, message_channel, read_value
from bot.errors import UserFacingError
from bot.operations.cards import deployment_for_card, with_region_names
from bot.services import Services
from formatters.blocks import Message
from formatters.deployment import (
    render_deployment_card,
    render_deployment_details,
    render_details_error,
    render_details_loading,
)
from formatters.errors import error_sentence
from handlers.errors import replies_on_error


async def _card(
    services: Services,
    channel_id: str,
    ref: CardRef | DeploymentRef,
    *,
    shared_by: str | None = None,
    in_channel: bool = False,
) -> Message:
    found = await deployment_for_card(services, channel_id, ref.project_id, ref.name)
    return render_deployment_card(
        found.deployment,
        services.clock(),
        since=found.since,
        shared_by=shared_by,
        in_channel=in_channel,
        watching=found.watching,
        regions=found.regions,
        portal_url=services.settings.gcore_portal_url,
        operate=services.access.operators.enabled,
    )


def register(app: AsyncApp, services: Services) -> None:
    """Register the card's button listeners."""

    @app.action(ActionId.REFRESH)
    @replies_on_error
    async def on_refresh(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        channel_id = message_channel(body)
        ref = read_value(CardRef, body, services.access)
        card = await _card(services, channel_id, ref, shared_by=ref.shared_by, in_channel=ref.in_channel)
        await respond(**card.as_kwargs(), replace_original=True)

    @app.action(ActionId.SHARE)
    @replies_on_error
    async def on_share(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        channel_id = message_channel(body)
        ref = read_value(CardRef, body, services.access)
        card = await _card(services, channel_id, ref, shared_by=body["user"]["id"])
        # Posting through response_url works in any channel the command ran in, member or not.
        await respond(**card.as_kwargs(), response_type="in_channel", replace_original=False)
        await respond(delete_original=True)

    @app.action(ActionId.DETAILS)
    @replies_on_error
    async def on_details(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        ref = read_value(CardRef, body, services.access)
        slack = services.slack
        # The trigger_id expires in 3 seconds, so the modal opens before Gcore is asked.
        opened = await slack.call(
            "views_open", trigger_id=body["trigger_id"], view=render_details_loading(ref)
        )
        try:
            deployment, regions = await with_region_names(
                services, services.gcore.get_deployment(ref.project_id, ref.name)
            )
            view = render_deployment_details(deployment, regions)
        except UserFacingError as error:
            view = render_details_error(error_sentence(error))
        await slack.call("views_update", view_id=opened["view"]["id"], view=view)

    @app.action(ActionId.SHOW_CARD)
    @replies_on_error
    async def on_show_card(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        channel_id = message_channel(body)
        ref = read_value(DeploymentRef, body, services.access)
        card = await _card(services, channel_id, ref)
        await respond(**card.as_kwargs(), response_type="ephemeral", replace_original=False)

    @app.action(ActionId.OPEN_ADDRESS)
    @app.action(ActionId.OPEN_PORTAL)
    async def on_open_link(ack: AsyncAck) -> None:
        # A link button opens the browser by itself; Slack still expects the action acknowledged.
        await ack()
