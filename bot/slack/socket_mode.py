"""Socket Mode that waits out a missing network calmly: one warning per attempt to open a connection,
on a backoff up to a minute, instead of slack_sdk's traceback every few seconds.

slack_sdk's client asks ``apps.connections.open`` for a websocket URL whenever it (re)connects; that is the
request that fails first without a network, so the backoff lives there. It is asked through a Web API
client without retry handlers: the backoff is the retry.

On a stop the handler closes the websocket at once, so that Slack routes new envelopes elsewhere, but only
after the envelopes it already received are acknowledged (milliseconds: Bolt acks first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.slack.api import web_client
from bot.slack.errors import classify
from bot.tasks import TaskSet

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 60.0
# slack_bolt's own default: how often the websocket is pinged.
PING_INTERVAL_SECONDS = 10.0


class PatientSocketModeClient(SocketModeClient):
    """slack_sdk's Socket Mode client, asking for a websocket URL again on a backoff until Slack answers."""

    async def issue_new_wss_url(self) -> str:
        """A websocket URL from ``apps.connections.open``; each failed attempt is one warning line."""
        delay = FIRST_RETRY_SECONDS
        attempt = 1
        while True:
            try:
                url = await super().issue_new_wss_url()
            except Exception as error:
                if self.closed:
                    raise
                log.warning(
                    "cannot open a Socket Mode connection to Slack (%s, attempt %d); trying again in %.0f s",
                    classify(error).code,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                delay, attempt = min(delay * 2, MAX_RETRY_SECONDS), attempt + 1
                continue
            if attempt > 1:
                log.info("Slack opened a Socket Mode connection after %d attempts", attempt)
            return url


class PatientSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode adapter over ``PatientSocketModeClient``, closed by a stop only once the envelopes
    it received are acknowledged (``close_after_acks``)."""

    def __init__(self, app: AsyncApp, app_token: str, api_url: str) -> None:
        # Not super().__init__: it would build (and leave open) a client of its own first.
        self.app, self.app_token = app, app_token
        self.client = PatientSocketModeClient(
            app_token=app_token,
            logger=logging.getLogger("slack_sdk.socket_mode"),
            web_client=web_client("", api_url, for_alerts=True),
            ping_interval=PING_INTERVAL_SECONDS,
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]
        self._handling = TaskSet()

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        """Bolt's dispatch of one envelope and its ack, counted until the ack is sent."""
        task = asyncio.current_task()
        if task is not None:
            self._handling.keep(task)
        await super().handle(client, req)

    async def close_after_acks(self, within: float) -> None:
        """Read no more envelopes, let those already received be acknowledged (Bolt acks before a listener's
        slow part, so this takes milliseconds; at most ``within``), then close the websocket, so that Slack
        sends new envelopes to the app's other connections instead of one that no longer reads."""
        self.client.auto_reconnect_enabled = self.client.default_auto_reconnect_enabled = False
        if self.client.message_receiver is not None:
            self.client.message_receiver.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while self.client.message_queue.qsize() or self._handling:
                    if self._handling:
                        await self._handling.wait_all()
                    else:
                        await asyncio.sleep(0)  # the processor takes a queued envelope on its next turn
        await self.close_async()  # type: ignore[no-untyped-call]
