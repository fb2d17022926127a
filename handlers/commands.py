"""``/inference``: ack at once, then answer through response_url however slow Gcore is.

``VERBS`` maps each subcommand to the function that answers it; anything else gets the help.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.actions import DeploymentRef
from bot.audit import Operation
from bot.commands import (
    REGION_OPTION,
    ParsedCommand,
    deployment_name_arg,
    list_problems_only,
    log_lines,
    only_problems,
    parse_command,
    region_id_of,
    resolve_project,
    subscription_target,
)
from bot.operations.acting import Requester, confirm
from bot.operations.cards import deployment_for_card, with_region_names
from bot.operations.history import deployment_history
from bot.operations.logs import recent_logs
from bot.operations.watching import subscribe, unsubscribe
from bot.services import Services
from formatters.audit import render_audit
from formatters.deployment import render_deployment_card
from formatters.errors import COMMAND
from formatters.help import render_help
from formatters.history import render_history
from formatters.listing import render_deployment_list
from formatters.logs import render_logs
from formatters.operations import Confirmations
from formatters.subscriptions import render_watching, unwatch_reply, watch_replies
from handlers.errors import replies_on_error


@dataclass(frozen=True)
class Invocation:
    """One ``/inference`` as a verb function sees it."""

    services: Services
    parsed: ParsedCommand
    channel_id: str
    user_id: str
    respond: AsyncRespond
    # The slash command as Slack sent it (trigger_id, team_id, response_url), for verbs that open a modal.
    command: dict[str, Any] = field(default_factory=dict)

    def project(self) -> int:
        """The project the command names, else the configured default; ``AccessDenied`` when
        ALLOWED_PROJECT_IDS does not allow it, before any Gcore request."""
        project_id = resolve_project(self.parsed.project_id, self.services.settings.gcore_cloud_project_id)
        self.services.access.check_project(project_id)
        return project_id


async def status(call: Invocation) -> None:
    """``status NAME``: the deployment's card, to the asker."""
    name = deployment_name_arg(call.parsed)
    project_id = call.project()
    found = await deployment_for_card(call.services, call.channel_id, project_id, name)
    card = render_deployment_card(
        found.deployment,
        call.services.clock(),
        since=found.since,
        watching=found.watching,
        regions=found.regions,
        portal_url=call.services.settings.gcore_portal_url,
        operate=call.services.access.operators.enabled,
    )
    await call.respond(**card.as_kwargs(), response_type="ephemeral")


async def list_deployments(call: Invocation) -> None:
    """``list [--problems]``: the project's deployments, problems first (or only), a page at a time."""
    project_id = call.project()
    problems_only = list_problems_only(call.parsed)
    deployments, regions = await with_region_names(
        call.services, call.services.gcore.list_deployments(project_id)
    )
    listing = render_deployment_list(
        deployments, project_id, 0, call.services.clock(), problems_only=problems_only, regions=regions
    )
    await call.respond(**listing.as_kwargs(), response_type="ephemeral")


async def watch(call: Invocation) -> None:
    """``watch NAME|--all [--notify @who …]``: subscribe the channel; said in the channel when something
    changed."""
    target = subscription_target(call.parsed)
    done = await subscribe(
        call.services,
        call.services.slack,
        channel_id=call.channel_id,
        user_id=call.user_id,
        project_id=call.project(),
        target=target,
        only_problems=only_problems(call.parsed),
        flat="--flat" in call.parsed.switches,
        notify=call.parsed.notify,
    )
    for reply in watch_replies(done.subscription, done.outcome, call.user_id):
        await call.respond(**reply)


async def unwatch(call: Invocation) -> None:
    """``unwatch NAME|--all``: end the channel's subscription."""
    target = subscription_target(call.parsed)
    project_id = call.project()
    done = await unsubscribe(call.services, call.channel_id, project_id, target)
    reply = unwatch_reply(
        done.removed, target, project_id, watches_all=done.watches_all, user_id=call.user_id
    )
    await call.respond(**reply)


async def watching(call: Invocation) -> None:
    """``watching``: the channel's subscriptions, with Unwatch buttons."""
    subscriptions = await call.services.store.channel_subscriptions(call.channel_id)
    await call.respond(**render_watching(subscriptions).as_kwargs(), response_type="ephemeral")


async def history(call: Invocation) -> None:
    """``history NAME``: the deployment's latest episodes as the watcher recorded them, to the asker."""
    name = deployment_name_arg(call.parsed)
    found, watched, names = await deployment_history(call.services, call.channel_id, call.project(), name)
    stuck_after = call.services.settings.stuck_after_seconds
    message = render_history(found, watched=watched, stuck_after_seconds=stuck_after, regions=names)
    await call.respond(**message.as_kwargs(), response_type="ephemeral")


async def logs(call: Invocation) -> None:
    """``logs NAME [--region R] [--lines N]``: the deployment's last log lines, newest last, to the asker."""
    name = deployment_name_arg(call.parsed)
    limit = log_lines(call.parsed)
    ref = DeploymentRef(project_id=call.project(), name=name)
    region = call.parsed.option(REGION_OPTION)
    region_id = None if region is None else region_id_of(region, await call.services.regions.names())
    found = await recent_logs(call.services, ref, limit=limit, region_id=region_id)
    reply = render_logs(ref.project_id, name, found.entries, found.regions)
    await call.respond(**reply.as_kwargs(), response_type="ephemeral")


async def _operate(call: Invocation, operation: Operation) -> None:
    """Open the confirmation of ``stop``/``start NAME``: for operators only, nothing is done until it is
    submitted."""
    name = deployment_name_arg(call.parsed)
    project_id = resolve_project(call.parsed.project_id, call.services.settings.gcore_cloud_project_id)
    who = Requester(call.user_id, call.command.get("team_id"), call.channel_id)
    await confirm(
        call.services,
        who,
        operation,
        project_id,
        name,
        trigger_id=call.command["trigger_id"],
        response_url=call.command.get("response_url"),
        views=Confirmations(),
    )


async def stop(call: Invocation) -> None:
    """``stop NAME``: the confirmation of stopping the deployment."""
    await _operate(call, Operation.STOP)


async def start(call: Invocation) -> None:
    """``start NAME``: the confirmation of starting the deployment again."""
    await _operate(call, Operation.START)


async def audit(call: Invocation) -> None:
    """``audit [NAME]``: the last actions and refusals, newest first, in the projects the bot serves."""
    name = deployment_name_arg(call.parsed) if call.parsed.args else None
    entries = await call.services.store.audit_trail(call.services.settings.allowed_projects, name)
    await call.respond(**render_audit(entries, name).as_kwargs(), response_type="ephemeral")


VERBS: dict[str, Callable[[Invocation], Awaitable[None]]] = {
    "status": status,
    "list": list_deployments,
    "watch": watch,
    "unwatch": unwatch,
    "watching": watching,
    "history": history,
    "logs": logs,
    "stop": stop,
    "start": start,
    "audit": audit,
}


def register(app: AsyncApp, services: Services) -> None:
    """Register the slash command."""

    @app.command(COMMAND)
    @replies_on_error
    async def on_inference(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        await ack()
        parsed = parse_command(command.get("text", ""))
        verb = VERBS.get(parsed.verb)
        if verb is None:
            unknown = None if parsed.verb == "help" else " ".join((parsed.verb, *parsed.args))
            usage = render_help(COMMAND, services.settings.gcore_cloud_project_id, unknown=unknown)
            await respond(**usage.as_kwargs(), response_type="ephemeral")
            return
        await verb(Invocation(services, parsed, command["channel_id"], command["user_id"], respond, command))
