"""The Bolt app factory: one AsyncApp with every listener registered; nothing is built at import time."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.services import Services
from handlers import register_all


def create_app(settings: Settings, services: Services) -> AsyncApp:
    """Build the Bolt app for either connection mode."""
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=str(settings.slack_api_url)
    )
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        # Socket Mode requests arrive over an authenticated websocket and carry no signature.
        request_verification_enabled=not settings.socket_mode,
    )
    register_all(app, services)
    return app
