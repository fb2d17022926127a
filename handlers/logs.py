"""An alert's Logs button: the deployment's last log lines, for the clicker alone."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.actions import ActionId, DeploymentRef, message_channel, read_value
from bot.operations.logs import recent_logs
from bot.services import Services
from formatters.logs import render_logs
from handlers.errors import replies_on_error


def register(app: AsyncApp, services: Services) -> None:
    """Register the Logs button's listener."""

    @app.action(ActionId.SHOW_LOGS)
    @replies_on_error
    async def on_show_logs(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        # Cards and alerts are messages in a channel: a click from anywhere else has nowhere to be answered.
        message_channel(body)
        ref = read_value(DeploymentRef, body, services.access)
        found = await recent_logs(services, ref)
        reply = render_logs(ref.project_id, ref.name, found.entries, found.regions)
        await respond(**reply.as_kwargs(), response_type="ephemeral", replace_original=False)
