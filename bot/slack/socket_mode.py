"""Socket Mode that waits out an unreachable or refusing Slack calmly: one line per attempt to connect, on
a backoff from 2 s up to a minute, instead of slack_sdk's traceback every few seconds.

A connection takes two steps, and either can fail: ``apps.connections.open`` issues a temporary websocket
URL, then the websocket opens on it. slack_sdk's ``connect()`` retries the second step every ping interval
with a traceback (whose message carries the URL), on the same URL however stale it is. So
``PatientSocketModeClient`` replaces ``connect()`` with a copy of slack_sdk's (3.48) that differs in the retry
alone: one warning line, the backoff (reset once a websocket opens), a fresh URL for the next attempt. A
copy rather than a wrapper around ``ws_connect``: that is a method of the aiohttp session, which slack_sdk
recreates when it finds it closed and aiohttp warns against patching or subclassing, and the first ping
after the upgrade can fail too. The rest is as slack_sdk has it: the caller holds ``connect_operation_lock``
when reconnecting (``connect_to_new_endpoint``, from ``monitor_current_session``, the receiver's CLOSE or a
``disconnect`` message), so reconnects asked for meanwhile wait for the lock (5 s), then stand down; the
old websocket is closed before a new one opens; a new websocket comes with a new monitor and receiver.

Slack's answers that the app token is dead (``invalid_auth``, ``token_revoked``…) are one ERROR line naming
SLACK_APP_TOKEN, and ``/readyz`` says not ready while they last; the token is asked about again every minute,
since reinstalling the app in Slack brings it back without a restart. ``/readyz`` also says not ready until
the first websocket is open. ``apps.connections.open`` is asked directly, not through slack_sdk's
``issue_new_wss_url`` (an ERROR line of its own at each failure), on a Web API client without retry
handlers: the backoff is the retry. A close (a stop) ends a backoff at once.

On a stop the handler closes the websocket at once, so that Slack routes new envelopes elsewhere, but only
after the envelopes it already received are acknowledged (milliseconds: Bolt acks first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.health import Health
from bot.slack.api import web_client
from bot.slack.errors import SlackFailureKind, classify
from bot.tasks import TaskSet

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 60.0
# slack_bolt's own default: how often the websocket is pinged.
PING_INTERVAL_SECONDS = 10.0


def _why_not_open(error: Exception) -> str:
    """Why a websocket did not open, without its URL: the ticket in it admits a connection while it lasts."""
    if isinstance(error, aiohttp.WSServerHandshakeError):
        return f"HTTP {error.status}"
    return type(error).__name__


class PatientSocketModeClient(SocketModeClient):
    """slack_sdk's Socket Mode client, connecting again on a backoff until Slack lets it, one line an attempt;
    it keeps ``health`` told whether Slack accepts the app token and whether a first websocket is open."""

    def __init__(self, app_token: str, api_url: str, health: Health) -> None:
        super().__init__(
            app_token=app_token,
            logger=logging.getLogger("slack_sdk.socket_mode"),
            web_client=web_client("", api_url, for_alerts=True),
            ping_interval=PING_INTERVAL_SECONDS,
        )
        self._health = health
        self._closing = asyncio.Event()
        health.socket_mode_connecting = True

    async def issue_new_wss_url(self) -> str:
        """A websocket URL from ``apps.connections.open``; each failed attempt is one log line. After a
        close, ``""``: the ``connect()`` that follows sees the close and does nothing."""
        delay = FIRST_RETRY_SECONDS
        attempt = 1
        while not self.closed:
            try:
                response = await self.web_client.apps_connections_open(app_token=self.app_token)
            except Exception as error:
                if self.closed:
                    break
                await self._pause(self._refused(error, attempt, delay))
                delay, attempt = min(delay * 2, MAX_RETRY_SECONDS), attempt + 1
                continue
            if self._health.slack_app_token_rejected is not None:
                log.info("Slack accepts SLACK_APP_TOKEN now")
                self._health.slack_app_token_rejected = None
            elif attempt > 1:
                log.info("Slack issued a Socket Mode URL after %d attempts", attempt)
            return str(response["url"])
        return ""

    def _refused(self, error: Exception, attempt: int, delay: float) -> float:
        """Log one failed ``apps.connections.open``; return how long to wait before the next."""
        failure = classify(error)
        if failure.kind is SlackFailureKind.AUTH:
            # Not Slack's passing trouble: asked about once a minute, in case the app is reinstalled.
            if self._health.slack_app_token_rejected is None:
                log.error(
                    "Slack rejected SLACK_APP_TOKEN (%s): Socket Mode cannot connect, and /readyz says not "
                    "ready, until it accepts the token; asking again every %.0f s",
                    failure.code,
                    MAX_RETRY_SECONDS,
                )
            else:
                log.warning(
                    "Slack still rejects SLACK_APP_TOKEN (%s, attempt %d); asking again in %.0f s",
                    failure.code,
                    attempt,
                    MAX_RETRY_SECONDS,
                )
            self._health.slack_app_token_rejected = failure.code
            return MAX_RETRY_SECONDS
        wait = max(delay, failure.retry_after)
        log.warning(
            "cannot open a Socket Mode connection to Slack (%s, attempt %d); trying again in %.0f s",
            failure.code,
            attempt,
            wait,
        )
        return wait

    async def connect(self) -> None:
        """Open a websocket (a URL from ``issue_new_wss_url`` unless one was just issued), retried until it
        opens or the client is closed: each failed attempt is one warning line, and the next, after the
        backoff, on a fresh URL."""
        delay = FIRST_RETRY_SECONDS
        attempt = 1
        while not self.closed:
            try:
                await self._open_session()
            except Exception as error:
                if self.closed:
                    return
                log.warning(
                    "cannot open the Socket Mode websocket to Slack (%s, attempt %d); "
                    "asking for a new URL in %.0f s",
                    _why_not_open(error),
                    attempt,
                    delay,
                )
                self.wss_uri = None
                await self._pause(delay)
                delay, attempt = min(delay * 2, MAX_RETRY_SECONDS), attempt + 1
                continue
            if self.closed:
                return
            if attempt > 1:
                log.info("the Socket Mode websocket to Slack opened after %d attempts", attempt)
            self._health.socket_mode_connecting = False
            return

    async def _open_session(self) -> None:
        """One attempt of slack_sdk's ``connect()`` loop, as it is but for its logging (a closed client
        returns without connecting)."""
        # Closed before the new one opens: with too_many_websockets, Slack counts the old one.
        self.auto_reconnect_enabled = False
        if self.current_session is not None:
            # A broken session (reset by peer) may fail to close; it is abandoned all the same.
            with contextlib.suppress(Exception):
                await self.current_session.close()
        if self.aiohttp_client_session.closed and not self.closed:
            self.aiohttp_client_session = aiohttp.ClientSession()
        if not self.wss_uri:
            self.wss_uri = await self.issue_new_wss_url()
        if self.closed:
            return
        self.current_session = await self.aiohttp_client_session.ws_connect(
            self.wss_uri,
            autoping=False,
            heartbeat=self.ping_interval,
            proxy=self.proxy,
            ssl=self.web_client.ssl if self.web_client.ssl is not None else True,
        )
        self.auto_reconnect_enabled = self.default_auto_reconnect_enabled
        self.stale = False
        log.debug("Socket Mode websocket open (%s)", await self.session_id())
        await self.current_session.ping(f"sdk-ping-pong:{time.time()}".encode())
        # The monitor and the receiver of the old session stop; this one's start.
        if self.current_session_monitor is not None:
            self.current_session_monitor.cancel()
        self.current_session_monitor = asyncio.ensure_future(self.monitor_current_session())
        if self.message_receiver is not None:
            self.message_receiver.cancel()
        self.message_receiver = asyncio.ensure_future(self.receive_messages())

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or until the client is closed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()

    async def close(self) -> None:
        """slack_sdk's close, which also ends a backoff under way."""
        self._closing.set()
        await super().close()  # type: ignore[no-untyped-call]


class PatientSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode adapter over ``PatientSocketModeClient``, closed by a stop only once the envelopes
    it received are acknowledged (``close_after_acks``)."""

    def __init__(self, app: AsyncApp, app_token: str, api_url: str, health: Health) -> None:
        # Not super().__init__: it would build (and leave open) a client of its own first.
        self.app, self.app_token = app, app_token
        self.client = PatientSocketModeClient(app_token, api_url, health)
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
