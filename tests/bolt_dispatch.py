"""The bot's Bolt app driven in-process, as bolt-python's own scenario tests drive theirs: a signed request
handed to ``app.async_dispatch``, with the real listeners, services and database against the loopback
Gcore and Slack fakes, and no HTTP server in front. Fast enough for property-based tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.services import Services
from bot.slack.auth import check_slack_token
from handlers import create_app
from tests.bots import GCORE_KEY, SIGNING_SECRET, bot_environment, free_port, settings_from
from tests.fakes.gcore import FakeGcore
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import signed_headers

# Longest a listener may run after its ack: Gcore and Slack are loopback fakes answering at once.
LISTENER_TIMEOUT = 10.0
# The coroutine slack_bolt's AsyncioListenerRunner runs each listener in, after its ack.
BOLT_LISTENER_TASK = "run_ack_function_asynchronously"


class _Errors(logging.Handler):
    """Keeps the log records at ERROR and above, and every record naming an unexpected error."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info or "unexpected error" in record.getMessage():
            self.records.append(record)


@dataclass
class Dispatched:
    """What one request came to: Bolt's answer, and what the listeners left behind."""

    status: int
    body: str
    # Log records at ERROR, with a traceback, or naming an unexpected error; exceptions that escaped Bolt.
    errors: list[str] = field(default_factory=list)


class InProcessBolt:
    """``handlers.create_app`` on one event loop of its own, with the services ``python -m bot`` builds."""

    def __init__(self, gcore: FakeGcore, slack: FakeSlack, workdir: Path, **extra: str) -> None:
        env = bot_environment(
            gcore, slack, free_port(), DATABASE_URL=f"sqlite:///{workdir / 'bot.db'}", **extra
        )
        self.settings = settings_from(env)
        self.gcore, self.slack = gcore, slack
        self._runner = asyncio.Runner()
        self._errors = _Errors()
        self.services, self.app = self._runner.run(self._build())
        logging.getLogger().addHandler(self._errors)

    async def _build(self) -> tuple[Services, AsyncApp]:
        services = Services.from_settings(self.settings)
        app = create_app(self.settings, services)
        services.access.remember_identity(await check_slack_token(services.slack))
        return services, app

    def dispatch(self, body: str, headers: dict[str, str] | None = None) -> Dispatched:
        """Hand ``body`` (signed now, unless ``headers`` are given) to Bolt and wait, bounded, for every
        task it started (the listeners run after their ack) to end."""
        self._errors.records.clear()
        signed: dict[str, str | Sequence[str]] = {**(headers or signed_headers(SIGNING_SECRET, body))}
        status, answer, escaped = self._runner.run(self._dispatch(body, signed))
        errors = [f"{r.getMessage()} {r.exc_info!r}" for r in self._errors.records]
        return Dispatched(status, answer, errors + [f"escaped Bolt: {error!r}" for error in escaped])

    async def _dispatch(
        self, body: str, headers: dict[str, str | Sequence[str]]
    ) -> tuple[int, str, list[BaseException]]:
        before = asyncio.all_tasks()
        response = await self.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
        started = asyncio.all_tasks() - before - {asyncio.current_task()}
        escaped: list[BaseException] = []
        if started:
            done, pending = await asyncio.wait(started, timeout=LISTENER_TIMEOUT)
            assert not pending, f"listeners still running after {LISTENER_TIMEOUT} s: {pending}"
            # What Bolt's own listener task raised is what Bolt let through (retrieved here, not left to
            # the log); tasks a listener started are its own business, and awaited by it.
            escaped = [
                error
                for task in done
                if getattr(task.get_coro(), "__qualname__", "").endswith(BOLT_LISTENER_TASK)
                and not task.cancelled()
                and (error := task.exception())
            ]
        return response.status, response.body, escaped

    def close(self) -> None:
        """Release the services and the loop."""
        logging.getLogger().removeHandler(self._errors)
        self._runner.run(self.services.aclose())
        self._runner.close()


def running_bolt(tmp_path: Path, **extra: str) -> Iterator[tuple[InProcessBolt, FakeGcore, FakeSlack]]:
    """Both fakes and an in-process Bolt app pointed at them, for a module-scoped fixture to yield."""
    with FakeGcore(api_key=GCORE_KEY) as gcore, FakeSlack() as slack:
        bolt = InProcessBolt(gcore, slack, tmp_path, **extra)
        try:
            yield bolt, gcore, slack
        finally:
            bolt.close()
