"""Bolt listeners: parse, ack, call an operation, format, respond. Each module has ``register(app, services)``;
``create_app`` builds the Bolt app with all of them."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.config import Settings
from bot.services import Services
from handlers import (
    access,
    commands,
    deployment_actions,
    errors,
    history,
    home,
    listing,
    logs,
    operations,
    watching,
)


def create_app(settings: Settings, services: Services) -> AsyncApp:
    """The Bolt app for either connection mode, every listener registered; nothing is built at import."""
    app = AsyncApp(
        name="inference-bot",
        # The one Web API client of people's requests (bot.slack.api), retry handlers and all.
        client=services.slack.client,
        signing_secret=settings.signing_secret,
        # Socket Mode requests arrive over an authenticated websocket and carry no signature.
        request_verification_enabled=not settings.socket_mode,
        # An explicit base logger, so Bolt's loggers follow our levels instead of copying the root's.
        logger=logging.getLogger("slack_bolt.app"),
    )
    # The access check first: no listener runs for a request the rules refuse (docs/security.md).
    for listeners in (
        access,
        errors,
        commands,
        deployment_actions,
        history,
        home,
        listing,
        logs,
        operations,
        watching,
    ):
        listeners.register(app, services)
    return app
