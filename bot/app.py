"""The Bolt app factory: one AsyncApp with every listener registered; nothing is built at import time."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.config import Settings
from bot.services import Services
from handlers import register_all


def create_app(settings: Settings, services: Services) -> AsyncApp:
    """Build the Bolt app for either connection mode."""
    app = AsyncApp(
        name="inference-bot",
        token=settings.slack_bot_token.get_secret_value(),
        signing_secret=settings.signing_secret,
        # Socket Mode requests arrive over an authenticated websocket and carry no signature.
        request_verification_enabled=not settings.socket_mode,
        # An explicit base logger, so Bolt's loggers follow our levels instead of copying the root's.
        logger=logging.getLogger("slack_bolt.app"),
    )
    # Passing our own client as well would make Bolt warn that the token is unused, at every start.
    app.client.base_url = str(settings.slack_api_url)
    register_all(app, services)
    return app
