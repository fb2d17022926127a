"""How the web server itself stops once the drain lets it (bot/lifecycle.py ``Server``): at once when
nothing is open, after the requests still open are answered, and at ``SERVER_CLOSE_SECONDS`` at most."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.lifecycle import SERVER_CLOSE_SECONDS, Server, web_server
from tests.bots import free_port
from tests.fakes.server import wait_for_async


async def slow(request: Request) -> PlainTextResponse:
    """Answers after ``?seconds=``, as a view submission still being handled would."""
    await asyncio.sleep(float(request.query_params["seconds"]))
    return PlainTextResponse("answered")


@pytest.fixture
async def served() -> AsyncIterator[tuple[Server, asyncio.Task[None], str]]:
    """A web server serving ``slow`` on a free port, with the task serving it."""
    port = free_port()
    server = web_server(Starlette(routes=[Route("/", slow)]), "127.0.0.1", port)
    serving = asyncio.create_task(server.serve())
    await wait_for_async(lambda: server.started, timeout=5, message="the web server to start")
    yield server, serving, f"http://127.0.0.1:{port}/"
    server.should_exit = True
    await asyncio.wait_for(serving, timeout=SERVER_CLOSE_SECONDS + 5)


async def stopped_after(server: Server, serving: asyncio.Task[None]) -> float:
    """Ask the server to stop as the drain does; the seconds until it has."""
    began = time.monotonic()
    server.should_exit = True
    await asyncio.wait_for(serving, timeout=SERVER_CLOSE_SECONDS + 5)
    return time.monotonic() - began


async def test_an_idle_server_stops_at_once_closing_its_kept_alive_connections(
    served: tuple[Server, asyncio.Task[None], str],
) -> None:
    server, serving, url = served
    async with httpx.AsyncClient() as client:
        assert (await client.get(url, params={"seconds": 0})).text == "answered"  # kept alive, idle
        # uvicorn's own stop waits for its next tick and 0.1 s more, at least; margin for a busy CI.
        assert await stopped_after(server, serving) < 0.1


async def test_a_request_open_when_the_server_stops_is_answered_first(
    served: tuple[Server, asyncio.Task[None], str],
) -> None:
    server, serving, url = served
    async with httpx.AsyncClient() as client:
        request = asyncio.create_task(client.get(url, params={"seconds": 0.3}))
        await wait_for_async(lambda: server.server_state.tasks, timeout=5, message="the request under way")
        seconds = await stopped_after(server, serving)
        response = await request
    assert (response.status_code, response.text) == (200, "answered")
    assert seconds < SERVER_CLOSE_SECONDS


async def test_a_request_still_open_at_the_bound_is_cancelled_and_the_server_stops(
    served: tuple[Server, asyncio.Task[None], str],
) -> None:
    server, serving, url = served
    async with httpx.AsyncClient() as client:
        request = asyncio.create_task(client.get(url, params={"seconds": 30}))
        await wait_for_async(lambda: server.server_state.tasks, timeout=5, message="the request under way")
        seconds = await stopped_after(server, serving)
        response = await request
    assert response.status_code == 500  # cancelled, not left hanging for 30 s
    assert SERVER_CLOSE_SECONDS <= seconds < SERVER_CLOSE_SECONDS + 1
