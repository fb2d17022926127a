"""The Bolt listeners running now, so that a stop can wait for them (bot/lifecycle.py).

Bolt runs each listener as a task of its own that goes on after the ack: a slash command is acknowledged
within milliseconds, and answered through its response_url when its listener returns, seconds later. A
request is finished only then, in HTTP mode and in Socket Mode alike.
"""

from __future__ import annotations

import asyncio

from slack_bolt.async_app import AsyncApp
from slack_bolt.listener.async_listener_start_handler import AsyncListenerStartHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.tasks import TaskSet


class RunningListeners(AsyncListenerStartHandler):
    """Keeps the task of every listener ``app`` starts until it is done. Installed as the app's listener
    start handler (Bolt's hook run at the start of each listener's task), in front of the one it had."""

    def __init__(self, app: AsyncApp) -> None:
        runner = app.listener_runner
        self._then: AsyncListenerStartHandler = runner.listener_start_handler
        runner.listener_start_handler = self
        self._tasks = TaskSet()

    async def handle(self, request: AsyncBoltRequest, response: BoltResponse | None) -> None:
        """Bolt's hook: keep the current task (the listener's) until it is done."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.keep(task)
        await self._then.handle(request=request, response=response)

    def in_flight(self) -> int:
        """Listeners still running."""
        return len(self._tasks)

    async def finish(self) -> None:
        """Wait until no listener runs, those started meanwhile included."""
        await self._tasks.wait_all()

    async def aclose(self) -> None:
        """Cancel the listeners still running."""
        await self._tasks.cancel_all()
