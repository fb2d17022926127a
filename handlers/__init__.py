"""Bolt listeners: parse, ack, call a service, format, respond. Each module has ``register(app, services)``."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from handlers import commands, deployment_actions, errors, listing, watching


def register_all(app: AsyncApp, services: Services) -> None:
    """Register every listener of the bot on ``app``."""
    errors.register(app, services)
    commands.register(app, services)
    deployment_actions.register(app, services)
    listing.register(app, services)
    watching.register(app, services)
