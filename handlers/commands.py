"""``/inference``: ack at once, then answer through response_url however slow Gcore is."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import deployment_name_arg, parse_command, resolve_project
from bot.services import Services
from formatters.help import render_help
from formatters.listing import render_deployment_list
from handlers import watching
from handlers.cards import fresh_card
from handlers.errors import replies_on_error

COMMAND = "/inference"
STATUS_USAGE = f"`{COMMAND} status my-instance`"


def register(app: AsyncApp, services: Services) -> None:
    """Register the slash command."""

    @app.command(COMMAND)
    @replies_on_error
    async def on_inference(
        ack: AsyncAck, respond: AsyncRespond, client: AsyncWebClient, command: dict[str, Any]
    ) -> None:
        await ack()
        parsed = parse_command(command.get("text", ""))
        default_project = services.settings.gcore_cloud_project_id
        if parsed.verb == "status":
            name = deployment_name_arg(parsed, STATUS_USAGE)
            project_id = resolve_project(parsed.project_id, default_project)
            card = await fresh_card(services, command["channel_id"], project_id, name)
            await respond(**card.as_kwargs(), response_type="ephemeral")
        elif parsed.verb == "watch":
            await watching.watch(services, client, parsed, command, respond)
        elif parsed.verb == "unwatch":
            await watching.unwatch(services, parsed, command, respond)
        elif parsed.verb == "watching":
            await watching.watching(services, command, respond)
        elif parsed.verb == "list":
            project_id = resolve_project(parsed.project_id, default_project)
            deployments = await services.gcore.list_deployments(project_id)
            listing = render_deployment_list(deployments, project_id, 0, services.clock())
            await respond(**listing.as_kwargs(), response_type="ephemeral")
        else:
            unknown = None if parsed.verb == "help" else " ".join((parsed.verb, *parsed.args))
            usage = render_help(COMMAND, default_project, unknown=unknown)
            await respond(**usage.as_kwargs(), response_type="ephemeral")
