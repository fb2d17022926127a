"""The Home tab: opening it publishes the person's view at once (``app_home_opened``, acknowledged by Bolt
before this runs), unless they are of another organization: the event names only the user, so
``users.info`` tells (ALLOW_EXTERNAL_USERS). Its buttons are the card's own listeners; the watcher
republishes it on changes."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.access import AccessDenied
from bot.services import Services
from bot.slack.errors import SlackCallFailed

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    """Register the ``app_home_opened`` listener."""

    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any]) -> None:
        # The event also comes for the Messages tab, which has nothing to publish.
        user_id = event.get("user")
        if event.get("tab") != "home" or not isinstance(user_id, str) or not user_id:
            return
        try:
            await services.access.check_user(user_id)
        except AccessDenied as denied:
            log.info("Home tab of %s refused: %s", user_id, denied)
            await services.home.refused(user_id, denied)
            return
        except SlackCallFailed as failed:
            log.warning("could not tell whose Home tab %s is (%s)", user_id, failed.failure.code)
            return
        await services.home.opened(user_id)
