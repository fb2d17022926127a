"""The deployment list's Previous/Next buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.actions import ActionId, ListPage, message_channel, read_value
from bot.operations.cards import with_region_names
from bot.services import Services
from formatters.listing import render_deployment_list
from handlers.errors import replies_on_error


def register(app: AsyncApp, services: Services) -> None:
    """Register the paging buttons."""

    @replies_on_error
    async def on_page(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        # A list is a message in a channel: a click from anywhere else has nowhere to be answered.
        message_channel(body)
        page = read_value(ListPage, body, services.access)
        deployments, regions = await with_region_names(
            services, services.gcore.list_deployments(page.project_id)
        )
        listing = render_deployment_list(
            deployments,
            page.project_id,
            page.page,
            services.clock(),
            problems_only=page.problems,
            regions=regions,
        )
        await respond(**listing.as_kwargs(), replace_original=True)

    app.action(ActionId.LIST_PREVIOUS)(on_page)
    app.action(ActionId.LIST_NEXT)(on_page)
