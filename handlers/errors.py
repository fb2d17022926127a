"""The one error path: every failure in a listener ends here and becomes one short ephemeral reply."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.errors import BadArgument, UserFacingError
from bot.services import Services
from formatters.blocks import Message
from formatters.feedback import render_error, render_unexpected_error

log = logging.getLogger(__name__)


def describe_error(error: Exception) -> Message:
    """The reply for ``error``; unexpected ones are logged with an id that the reply quotes."""
    if isinstance(error, UserFacingError):
        if not isinstance(error, BadArgument):
            log.warning("request failed: %s", error)
        return render_error(error.user_message)
    error_id = secrets.token_hex(4)
    log.error("unexpected error %s", error_id, exc_info=error)
    return render_unexpected_error(error_id)


def register(app: AsyncApp, services: Services) -> None:
    """Install the app-wide error handler."""

    @app.error
    async def on_error(error: Exception, body: dict[str, Any], respond: AsyncRespond | None = None) -> None:
        message = describe_error(error)
        if respond is None:
            return
        await respond(**message.as_kwargs(), response_type="ephemeral", replace_original=False)
