"""ASGI routes: ``POST /slack/events`` (HTTP mode only) and ``GET /healthz``."""

from __future__ import annotations

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.health import Health

EVENTS_PATH = "/slack/events"


def create_web_app(app: AsyncApp, health: Health, *, serve_events: bool) -> Starlette:
    """The ASGI app; in Socket Mode it serves only the health check."""
    handler = AsyncSlackRequestHandler(app)

    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_: Request) -> Response:
        return JSONResponse(health.report(), status_code=200 if health.ok else 503)

    routes = [Route("/healthz", healthz, methods=["GET"])]
    if serve_events:
        routes.append(Route(EVENTS_PATH, slack_events, methods=["POST"]))
    return Starlette(routes=routes)
