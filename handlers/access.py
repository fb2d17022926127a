"""The access rules on every request a person makes: one Bolt middleware, before any listener.

Each slash command and each interaction (a click, a view submission, a shortcut) is checked on the person
(``ALLOW_EXTERNAL_USERS``) and on the channel it comes from (``ALLOWED_CHANNEL_IDS``). A refused request is
still acknowledged, so Slack never shows a timeout, and told why where the person is looking: through its
response_url, in the modal it submitted, or in a modal of its own (a Home tab click). No listener runs, so
nothing is asked of Gcore. Events (``app_home_opened``) carry no request to refuse and pass.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.access import AccessDenied
from bot.operations.acting import record_refusal
from bot.services import Services
from formatters.errors import error_sentence
from formatters.refusals import render_refusal_modal
from handlers.errors import reply_with_error, tell_in_modal

log = logging.getLogger(__name__)

# Envelopes of the Events API: what happened, not what someone asks of the bot.
_EVENTS = frozenset({"event_callback", "app_rate_limited"})
# Interactions whose ack body is the answer, an options menu's suggestions: refused with no options.
_OPTIONS_REQUESTS = frozenset({"block_suggestion", "dialog_suggestion"})


def asks_something(body: dict[str, Any]) -> bool:
    """Whether ``body`` is a person's request (a slash command or an interaction), not an event."""
    return "command" in body or body.get("type") not in _EVENTS


async def check_request(services: Services, body: dict[str, Any], channel_id: str | None) -> None:
    """``AccessDenied`` unless the person and the channel may use the bot."""
    await services.access.check_person(body)
    services.access.check_channel(channel_id)


async def refuse(
    services: Services, body: dict[str, Any], context: AsyncBoltContext, denied: AccessDenied
) -> BoltResponse:
    """The ack of a refused request, after telling the person why where they will see it."""
    kind = body.get("type")
    if kind == "view_submission":
        view = render_refusal_modal(error_sentence(denied))
        return BoltResponse(status=200, body={"response_action": "update", "view": view})
    if kind in _OPTIONS_REQUESTS:
        return BoltResponse(status=200, body={"options": []})
    if context.response_url and context.respond is not None:
        await reply_with_error(denied, context.respond)
    elif isinstance(body.get("trigger_id"), str) and kind != "view_closed":
        log.info("request refused: %s", denied)
        await tell_in_modal(services, body["trigger_id"], render_refusal_modal(error_sentence(denied)))
    else:
        log.info("request refused, with nowhere to say so: %s", denied)
    return BoltResponse(status=200, body="")


def register(app: AsyncApp, services: Services) -> None:
    """Install the access check as the app's first middleware."""

    @app.middleware
    async def check_access(
        body: dict[str, Any], context: AsyncBoltContext, next_: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        if asks_something(body):
            try:
                await check_request(services, body, context.channel_id)
            except AccessDenied as denied:
                # A refused start or stop is audited like any other (a no-op for anything else).
                await record_refusal(services, body, denied)
                # Not calling next_(): no listener runs, and this response is the ack.
                return await refuse(services, body, context, denied)
        await next_()
        return None
