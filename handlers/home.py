"""The Home tab: opening it publishes the person's view at once (``app_home_opened``, acknowledged by Bolt
before this runs). Its buttons are the card's own listeners; the watcher republishes it on changes."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from bot.watch.home import HomePublisher


def register(app: AsyncApp, services: Services) -> None:
    """Register the ``app_home_opened`` listener."""
    publisher = HomePublisher(
        services.slack,
        services.store,
        services.access,
        clock=services.clock,
        portal_url=services.settings.gcore_portal_url,
    )

    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any]) -> None:
        # The event also comes for the Messages tab, which has nothing to publish.
        user_id = event.get("user")
        if event.get("tab") == "home" and isinstance(user_id, str) and user_id:
            await publisher.opened(user_id)
