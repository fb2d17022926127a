"""The floor for scenario 1: a minimal Bolt app on the bot's server stack that only acks ``/inference``."""

from __future__ import annotations

import asyncio
import os

import uvicorn
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.health import Health
from bot.slack.web import create_web_app


def main() -> None:
    """Serve the ack-only app on HOST:PORT, like ``python -m bot`` in HTTP mode."""
    app = AsyncApp(token=os.environ["SLACK_BOT_TOKEN"], signing_secret=os.environ["SLACK_SIGNING_SECRET"])
    app.client.base_url = os.environ["SLACK_API_URL"]

    @app.command("/inference")
    async def ack_only(ack: AsyncAck) -> None:
        await ack()

    web = create_web_app(app, Health(), serve_events=True)
    config = uvicorn.Config(
        web, host=os.environ["HOST"], port=int(os.environ["PORT"]), log_config=None, access_log=False
    )
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
