"""ASGI routes: ``POST /slack/events`` (HTTP mode only), ``GET /healthz`` (live), ``GET /readyz``
(ready: the database answers at the newest revision, Slack accepted the token, and the bot is not stopping)
and ``GET /metrics`` (Prometheus: ``bot.metrics``).

A request body is read while it streams and refused with 413 past ``MAX_BODY_BYTES``, before it is held in
memory; a body that is not UTF-8 gets 400; then its signature is checked (401 for a missing, forged, stale
or malformed one) before Bolt or any listener sees it.

Slash commands and button clicks are acknowledged here, as soon as their signature checks out, and handed
to Bolt in the background: every listener of ours acks with an empty body, so waiting for Bolt's own ack
(its middleware chain and its 10 ms ack polling) only delays Slack's 200. Under a burst of requests that
wait was most of the ack time (docs/performance.md). Anything else goes through Bolt as usual.

While the bot stops (``Health.draining``), every new request gets 503 before its body is read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.health import Health
from bot.metrics import CONTENT_TYPE, Metrics
from bot.tasks import TaskSet

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Acknowledged requests waiting for Bolt beyond this go through Bolt's own (slower) ack: back-pressure.
MAX_BACKLOG = 1000
# Slack's requests are a few kB; a view submission with every input filled stays far below this.
MAX_BODY_BYTES = 1024 * 1024


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The request's body, or None once it is known to exceed ``limit``: by its Content-Length, else as
    soon as the bytes streamed in pass it. Nothing past the limit is kept."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def signed_by_slack(verifier: SignatureVerifier, body: bytes, headers: dict[str, str]) -> bool:
    """Whether the request carries Slack's valid, fresh signature; a malformed timestamp (empty, a decimal,
    5,000 digits) is simply not one."""
    try:
        return verifier.is_valid_request(body, headers)
    except (ValueError, TypeError, OverflowError):
        return False


# What ``_interaction`` answers for a ``payload`` field that is not JSON.
NOT_JSON = object()


def _interaction(body: str) -> object:
    """The JSON of an interactivity request's ``payload`` field; None when there is none."""
    raw = parse_qs(body).get("payload")
    if not raw:
        return None
    try:
        return json.loads(raw[0])
    except ValueError:
        return NOT_JSON


def _is_object_with(value: object, key: str) -> bool:
    return isinstance(value, dict) and isinstance(value.get(key), str) and bool(value[key])


def malformed(body: str) -> bool:
    """Whether an interactivity payload is not what Slack sends: not a JSON object with a type and a user;
    a click without an action id; a view submission without its view. Such a request gets 400 before Bolt,
    which would fail on it with a traceback."""
    payload = _interaction(body)
    if payload is None:
        return False
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return True
    if not _is_object_with(payload.get("user"), "id"):
        return True
    if payload["type"] == "block_actions":
        actions = payload.get("actions")
        return not (
            isinstance(actions, list) and actions and all(_is_object_with(a, "action_id") for a in actions)
        )
    if payload["type"] in ("view_submission", "view_closed"):
        return not _is_object_with(payload.get("view"), "id")
    return False


def acks_empty(body: str) -> bool:
    """Whether every listener for this request acks with an empty body: slash commands and button clicks."""
    if "command" in parse_qs(body):
        return True
    payload = _interaction(body)
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
        # Dispatches of requests acknowledged here, and of those Bolt acknowledges itself.
        self._running, self._through_bolt = TaskSet(), TaskSet()
        self._consumer: asyncio.Task[None] | None = None

    @property
    def backlog(self) -> int:
        """Requests acknowledged but not yet started."""
        return self._queue.qsize()

    def in_flight(self) -> int:
        """Requests taken whose dispatch has not returned: acknowledged and queued, or in Bolt before their
        listener, or going through Bolt's own ack (view submissions, events)."""
        return self._queue.qsize() + len(self._running) + len(self._through_bolt)

    async def finish(self) -> None:
        """Wait until every request taken has been through Bolt's dispatch (its listener started, and
        followed by ``RunningListeners``)."""
        await self._queue.join()
        await self._through_bolt.wait_all()

    async def through_bolt(self, request: AsyncBoltRequest) -> BoltResponse:
        """Dispatch a request Bolt acknowledges itself, counted until its dispatch returns."""
        return await self._through_bolt.keep(asyncio.ensure_future(self._app.async_dispatch(request)))

    async def aclose(self) -> None:
        """Stop: the requests still queued are dropped, the dispatches under way cancelled."""
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
        await self._running.cancel_all()
        await self._through_bolt.cancel_all()

    def submit(self, body: str, headers: dict[str, str | Sequence[str]]) -> None:
        """Queue an acknowledged request for Bolt."""
        if self._consumer is None:
            self._consumer = asyncio.create_task(self._consume(), name="acked-requests")
        self._queue.put_nowait(AsyncBoltRequest(body=body, headers=headers))

    async def _consume(self) -> None:
        while True:
            request = await self._queue.get()
            task = self._running.keep(asyncio.create_task(self._dispatch(request)))
            # Counted done for finish() however it ends: returned, raised or cancelled.
            task.add_done_callback(lambda _: self._queue.task_done())
            await asyncio.sleep(0)

    async def _dispatch(self, request: AsyncBoltRequest) -> None:
        try:
            await self._app.async_dispatch(request)
        except Exception:
            log.exception("handling an acknowledged Slack request failed")


# /readyz waits this long for the database before calling it unreachable.
READY_DATABASE_SECONDS = 2.0


async def no_database() -> bool:
    """The readiness of an app without a database (the benchmark's floor)."""
    return True


def create_web_app(
    app: AsyncApp,
    health: Health,
    *,
    serve_events: bool,
    signing_secret: str = "",
    database_ready: Callable[[], Awaitable[bool]] = no_database,
    acked: AckedRequests | None = None,
    metrics: Metrics | None = None,
) -> Starlette:
    """The ASGI app; in Socket Mode it serves only the health checks. ``acked`` runs the requests acked
    early; the caller passes its own to wait for them when the bot stops. ``metrics`` (the bot's own; else
    a registry of this app's) is served at ``GET /metrics`` and times each ack."""
    handler = AsyncSlackRequestHandler(app)
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    acked_early = acked if acked is not None else AckedRequests(app)
    meter = metrics if metrics is not None else Metrics()

    async def slack_events(request: Request) -> Response:
        received = time.perf_counter()
        if health.draining:
            # Stopping: nothing new is taken. Slack retries an event elsewhere; a command or a click shows
            # the person Slack's error, and they try again on a replica that is ready.
            return Response(status_code=503)
        if verifier is None:
            return await handler.handle(request)
        raw = await read_body(request)
        if raw is None:
            return Response(status_code=413)
        if health.draining:
            # The stop began while the body streamed in: from here to the hand-over there is no await, so
            # nothing is taken after the drain looked.
            return Response(status_code=503)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            # Slack signs UTF-8 text; no signature could be checked over these bytes.
            return Response(status_code=400)
        headers = dict(request.headers)
        if not signed_by_slack(verifier, raw, headers):
            return Response(status_code=401)
        if malformed(body):
            return Response(status_code=400)
        if acked_early.backlog < MAX_BACKLOG and acks_empty(body):
            acked_early.submit(body, {**headers})
            meter.observe_ack("fast", time.perf_counter() - received)
            return Response(status_code=200)
        bolt_request = AsyncBoltRequest(body=body, query=dict(request.query_params), headers={**headers})
        response = to_starlette_response(await acked_early.through_bolt(bolt_request))
        meter.observe_ack("bolt", time.perf_counter() - received)
        return response

    async def healthz(_: Request) -> Response:
        return JSONResponse(health.report(), status_code=200 if health.ok else 503)

    async def readyz(_: Request) -> Response:
        try:
            async with asyncio.timeout(READY_DATABASE_SECONDS):
                database = await database_ready()
        except TimeoutError:
            database = False
        report = health.readiness(database_ready=database)
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    async def metrics_page(_: Request) -> Response:
        return Response(await meter.exposition(), media_type=CONTENT_TYPE)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]
    if serve_events:
        routes.append(Route(EVENTS_PATH, slack_events, methods=["POST"]))
    return Starlette(routes=routes)
