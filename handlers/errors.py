"""The one error path: every failure in a listener ends here and becomes one short ephemeral reply."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.errors import BadArgument, UserFacingError
from bot.gcore.errors import DeploymentNotFound
from bot.services import Services
from bot.slack.errors import SlackCallFailed
from formatters.blocks import Message
from formatters.errors import error_sentence
from formatters.feedback import render_error, render_unexpected_error

log = logging.getLogger(__name__)

Listener = Callable[..., Awaitable[None]]


def describe_error(error: Exception) -> Message:
    """The reply for ``error``; unexpected ones are logged with an id that the reply quotes."""
    if isinstance(error, UserFacingError | SlackCallFailed):
        # Mistakes in what a person typed are routine; trouble with Gcore or Slack is worth an operator's eye.
        level = logging.INFO if isinstance(error, BadArgument | DeploymentNotFound) else logging.WARNING
        log.log(level, "request failed: %s", error)
        return render_error(error_sentence(error))
    error_id = secrets.token_hex(4)
    log.error("unexpected error %s", error_id, exc_info=error)
    return render_unexpected_error(error_id)


async def reply_with_error(error: Exception, respond: AsyncRespond | None) -> None:
    """Tell the person what went wrong, next to whatever they clicked or typed."""
    message = describe_error(error)
    # Bolt's respond raises without a response_url: a click Slack sent without one has nowhere to be told.
    if respond is not None and respond.response_url:
        await respond(**message.as_kwargs(), response_type="ephemeral", replace_original=False)


async def tell_in_modal(services: Services, trigger_id: str, view: dict[str, Any]) -> None:
    """Open ``view`` (one sentence of why) with the request's trigger_id: for a click with nowhere else to
    answer, such as one from the Home tab. A modal Slack will not open is logged, not raised."""
    try:
        await services.slack.call("views_open", trigger_id=trigger_id, view=view)
    except SlackCallFailed as failed:
        log.warning("could not say why in a modal (%s)", failed.failure.code)


def replies_on_error(listener: Listener) -> Listener:
    """Catch what a listener raises after its ack and answer through its ``respond``.

    Bolt's own error handler is not enough here: when a listener acks and fails within Bolt's 10 ms ack
    polling, Bolt drops the ack and Slack sees a 404 after 3 seconds. Listeners using this must take
    ``respond`` so the error can be answered.
    """

    @functools.wraps(listener)
    async def guarded(**kwargs: Any) -> None:
        try:
            await listener(**kwargs)
        except Exception as error:
            await reply_with_error(error, kwargs.get("respond"))

    return guarded


def register(app: AsyncApp, services: Services) -> None:
    """Install the app-wide error handler, for failures outside listeners (before any ack)."""

    @app.error
    async def on_error(error: Exception, respond: AsyncRespond | None = None) -> None:
        await reply_with_error(error, respond)
