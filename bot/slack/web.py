"""ASGI routes: ``POST /slack/events`` (HTTP mode only) and ``GET /healthz``.

Slash commands and button clicks are acknowledged here, as soon as their signature checks out, and handed
to Bolt in the background: every listener of ours acks with an empty body, so waiting for Bolt's own ack
(its middleware chain and its 10 ms ack polling) only delays Slack's 200. Under a burst of requests that
wait was most of the ack time (docs/performance.md). Anything else goes through Bolt as usual.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.health import Health

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Acknowledged requests waiting for Bolt beyond this go through Bolt's own (slower) ack: back-pressure.
MAX_BACKLOG = 1000


def acks_empty(body: bytes) -> bool:
    """Whether every listener for this request acks with an empty body: slash commands and button clicks."""
    fields = parse_qs(body.decode("utf-8", "replace"))
    if "command" in fields:
        return True
    try:
        payload = json.loads(fields.get("payload", [""])[0])
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("type") == "block_actions"


class AckedRequests:
    """Runs acknowledged requests through Bolt, starting at most one per turn of the event loop.

    Each Bolt dispatch runs a few milliseconds of CPU before its first real wait. Started all at once, a
    burst's dispatches would run back to back while the next requests wait for their ack; started one per
    loop turn, new requests are read and acked between them.
    """

    def __init__(self, app: AsyncApp) -> None:
        self._app = app
        self._queue: asyncio.Queue[AsyncBoltRequest] = asyncio.Queue()
        self._running: set[asyncio.Task[None]] = set()
        self._consumer: asyncio.Task[None] | None = None

    @property
    def backlog(self) -> int:
        """Requests acknowledged but not yet started."""
        return self._queue.qsize()

    def submit(self, body: bytes, headers: dict[str, str | Sequence[str]]) -> None:
        """Queue an acknowledged request for Bolt."""
        if self._consumer is None:
            self._consumer = asyncio.create_task(self._consume(), name="acked-requests")
        self._queue.put_nowait(AsyncBoltRequest(body=body.decode("utf-8"), headers=headers))

    async def _consume(self) -> None:
        while True:
            request = await self._queue.get()
            task = asyncio.create_task(self._dispatch(request))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            await asyncio.sleep(0)

    async def _dispatch(self, request: AsyncBoltRequest) -> None:
        try:
            await self._app.async_dispatch(request)
        except Exception:
            log.exception("handling an acknowledged Slack request failed")


def create_web_app(
    app: AsyncApp, health: Health, *, serve_events: bool, signing_secret: str = ""
) -> Starlette:
    """The ASGI app; in Socket Mode it serves only the health check."""
    handler = AsyncSlackRequestHandler(app)
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    acked = AckedRequests(app)

    async def slack_events(request: Request) -> Response:
        if verifier is None:
            return await handler.handle(request)
        body = await request.body()
        headers = dict(request.headers)
        if acked.backlog >= MAX_BACKLOG or not acks_empty(body):
            return await handler.handle(request)
        if not verifier.is_valid_request(body, headers):
            return Response(status_code=401)
        acked.submit(body, {**headers})
        return Response(status_code=200)

    async def healthz(_: Request) -> Response:
        return JSONResponse(health.report(), status_code=200 if health.ok else 503)

    routes = [Route("/healthz", healthz, methods=["GET"])]
    if serve_events:
        routes.append(Route(EVENTS_PATH, slack_events, methods=["POST"]))
    return Starlette(routes=routes)
