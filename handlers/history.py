"""The History button: a deployment's latest episodes, to the clicker alone."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.actions import ActionId, DeploymentRef, message_channel, read_value
from bot.operations.history import deployment_history
from bot.services import Services
from formatters.history import render_history
from handlers.errors import replies_on_error


def register(app: AsyncApp, services: Services) -> None:
    """Register the History button."""

    @app.action(ActionId.SHOW_HISTORY)
    @replies_on_error
    async def on_history(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        # Ephemeral and beside the message clicked, which stays as it is for everyone else.
        await ack()
        channel_id = message_channel(body)
        ref = read_value(DeploymentRef, body, services.access)
        history, watched, names = await deployment_history(services, channel_id, ref.project_id, ref.name)
        stuck_after = services.settings.stuck_after_seconds
        message = render_history(history, watched=watched, stuck_after_seconds=stuck_after, regions=names)
        await respond(**message.as_kwargs(), response_type="ephemeral", replace_original=False)
