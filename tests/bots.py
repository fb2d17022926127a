"""The real bot (``python -m bot`` or its ``serve()`` in this process) run against the loopback Gcore and
Slack fakes, and the ways a test talks to it as Slack would."""

from __future__ import annotations

import asyncio
import faulthandler
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from slack_sdk.http_retry.jitter import Jitter

from bot.__main__ import quiet_libraries, serve
from bot.config import Settings
from bot.slack.pacing import ChannelRateLimiter
from tests.fakes.gcore import FakeGcore, seed_deployment
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack, ResponsePost
from tests.fakes.slack_requests import (
    block_action,
    event_callback,
    form_body,
    interactive_body,
    signed_headers,
    slash_command,
)
from tests.processes import stop_process

BOT_TOKEN = "xoxb-test-bot-token-7f3a"
APP_TOKEN = "xapp-test-app-token-91c2"
SIGNING_SECRET = "test-signing-secret-5b8e"
GCORE_KEY = "test-gcore-key-c4d1"
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, GCORE_KEY)
PROJECT = 1
START_TIMEOUT = 20.0
# Bots in this process pace alerts at 20 a second per channel, not Slack's one: the fake has no limit, and
# at Slack's pace the suite would mostly wait. Slack's pace is kept by the bots started as processes, and
# tested in test_rate_limit.py and by the fan-out benchmark.
IN_PROCESS_POSTS_PER_SECOND = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_environment(gcore: FakeGcore, slack: FakeSlack, port: int, **extra: str) -> dict[str, str]:
    """The environment of a bot pointed at the fakes; nothing inherited can override it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GCORE_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        GCORE_API_KEY=GCORE_KEY,
        GCORE_BASE_URL=gcore.url,
        GCORE_CLOUD_PROJECT_ID=str(PROJECT),
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="DEBUG",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class RunningBot:
    """A running bot and the ways a test talks to it as Slack would."""

    port: int
    slack: FakeSlack
    # Plain HTTP on loopback: no CA bundle to load (~50 ms of CPU per client).
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0, verify=False))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the bot logged so far."""
        raise NotImplementedError

    def problem(self) -> str | None:
        """Why the bot is no longer running, or None while it is."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the bot and wait for it (bounded)."""
        self.http.close()

    def post_signed(self, body: str, timestamp: int | None = None) -> httpx.Response:
        headers = signed_headers(SIGNING_SECRET, body, timestamp)
        return self.http.post(f"{self.url}/slack/events", content=body, headers=headers)

    def command(self, text: str, **fields: str) -> str:
        """Send ``/inference <text>``, check Slack got its ack, and return the response_url id to watch."""
        response_url = self.slack.new_response_url()
        ack = self.post_signed(form_body(slash_command(text, response_url=response_url, **fields)))
        assert (ack.status_code, ack.text) == (200, ""), f"ack was {ack.status_code} {ack.text!r}"
        return response_url.rsplit("/", 1)[-1]

    def click(self, button: dict[str, Any], **kwargs: Any) -> str:
        """Click a button element taken from a message the bot sent; same checks and return as ``command``."""
        response_url = self.slack.new_response_url()
        payload = block_action(
            button["action_id"], button.get("value", ""), response_url=response_url, **kwargs
        )
        ack = self.post_signed(interactive_body(payload))
        assert (ack.status_code, ack.text) == (200, ""), f"ack was {ack.status_code} {ack.text!r}"
        return response_url.rsplit("/", 1)[-1]

    def event(self, event: dict[str, Any]) -> None:
        """Deliver an Events API ``event`` as Slack does (a signed JSON ``event_callback``); check the ack."""
        body = json.dumps(event_callback(event), separators=(",", ":"))
        headers = signed_headers(SIGNING_SECRET, body) | {"Content-Type": "application/json"}
        ack = self.http.post(f"{self.url}/slack/events", content=body, headers=headers)
        assert ack.status_code == 200, f"ack was {ack.status_code} {ack.text!r}"

    def reply(self, response_id: str, index: int = 0, timeout: float = 10.0) -> ResponsePost:
        """The ``index``-th post to a response_url, waited for with a bound."""

        def posted() -> ResponsePost | None:
            posts = self.slack.responses(response_id)
            return posts[index] if len(posts) > index else None

        return wait_for(posted, timeout=timeout)

    def wait_healthy(self) -> None:
        """Wait for ``/healthz``; stop the bot and fail, with its log, if it dies or never answers."""

        def healthy() -> bool:
            problem = self.problem()
            if problem is not None:
                raise AssertionError(f"{problem}:\n{self.log()}")
            try:
                return self.http.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_for(healthy, timeout=START_TIMEOUT, interval=0.05)
        except BaseException:
            self.stop()
            raise


@dataclass
class BotProcess(RunningBot):
    """``python -m bot`` as a process of its own, as an operator runs it."""

    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def log(self) -> str:
        assert self.log_path is not None
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def problem(self) -> str | None:
        assert self.process is not None
        return None if self.process.poll() is None else f"bot exited with {self.process.returncode}"

    def stop(self) -> None:
        assert self.process is not None
        stop_process(self.process)
        super().stop()


class _Records(logging.Handler):
    """Keeps every log line of the bots running in this process."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class BotInProcess(RunningBot):
    """The bot's own ``serve()`` on an event loop of its own in this process: the same app, watcher,
    notifier, web server and real HTTP as ``python -m bot``, without the seconds a new interpreter takes
    to import them. Its log is every line logged in this process while it runs."""

    thread: threading.Thread | None = None
    loop: asyncio.AbstractEventLoop | None = None
    shutdown: asyncio.Event | None = None
    records: _Records = field(default_factory=_Records)
    failure: list[BaseException] = field(default_factory=list)

    def log(self) -> str:
        return "\n".join(self.records.lines)

    def problem(self) -> str | None:
        assert self.thread is not None
        if self.thread.is_alive():
            return None
        return f"bot stopped: {self.failure[0]!r}" if self.failure else "bot stopped"

    def stop(self) -> None:
        assert self.thread is not None and self.loop is not None and self.shutdown is not None
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.shutdown.set)
            self.thread.join(timeout=15)
        if self.thread.is_alive():
            # What it is stuck on is the only clue a hung shutdown leaves.
            faulthandler.dump_traceback(file=sys.stderr)
        assert not self.thread.is_alive(), "the in-process bot did not stop within 15 s"
        logging.getLogger().removeHandler(self.records)
        super().stop()


def settings_from(env: dict[str, str]) -> Settings:
    """The settings ``python -m bot`` would read from ``env``, and nothing from this process's environment
    or a developer's ``.env``."""
    fields = {name.lower(): value for name, value in env.items() if name.lower() in Settings.model_fields}
    # model_validate reads no environment source, unlike Settings().
    return Settings.model_validate(fields)


def start_bot(gcore: FakeGcore, slack: FakeSlack, workdir: Path, **extra: str) -> RunningBot:
    """Start the bot against the fakes in this process and wait for /healthz; its database defaults to a
    file in ``workdir``, as ``python -m bot`` run there would have it."""
    port = free_port()
    env = bot_environment(gcore, slack, port, **{"DATABASE_URL": f"sqlite:///{workdir / 'bot.db'}", **extra})
    bot = start_in_process(env, port, slack)
    bot.wait_healthy()
    return bot


def start_bot_process(gcore: FakeGcore, slack: FakeSlack, workdir: Path, **extra: str) -> BotProcess:
    """Start ``python -m bot`` in ``workdir`` (so no developer .env is read) and wait for /healthz."""
    port = free_port()
    log_path = workdir / f"bot-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=workdir,
            env=bot_environment(gcore, slack, port, **extra),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    bot = BotProcess(port=port, slack=slack, process=process, log_path=log_path)
    bot.wait_healthy()
    return bot


def start_in_process(env: dict[str, str], port: int, slack: FakeSlack) -> BotInProcess:
    """Start the bot's serve() with ``env`` on a thread of its own; the caller waits for it."""
    settings = settings_from(env)
    shutdown = asyncio.Event()
    bot = BotInProcess(port=port, slack=slack, shutdown=shutdown)
    root = logging.getLogger()
    root.addHandler(bot.records)
    root.setLevel(logging.DEBUG)
    quiet_libraries(logging.DEBUG)
    started = threading.Event()

    def run() -> None:
        # A Runner, like asyncio.run: what is still pending when serve() returns is cancelled, not leaked.
        with asyncio.Runner() as runner:
            bot.loop = runner.get_loop()
            started.set()
            try:
                pacing = ChannelRateLimiter(rate=IN_PROCESS_POSTS_PER_SECOND)
                runner.run(serve(settings, shutdown, pacing=pacing))
            except BaseException as error:
                bot.failure.append(error)

    bot.thread = threading.Thread(target=run, name=f"bot-{port}", daemon=True)
    bot.thread.start()
    assert started.wait(10), "the in-process bot's event loop did not start"
    return bot


def fresh_fakes(gcore: FakeGcore, slack: FakeSlack) -> None:
    """The fakes as a new bot finds them: the seed deployment, and nothing recorded, injected or posted."""
    gcore.reset()
    gcore.put(seed_deployment())
    slack.clear()


def assert_no_secrets(*texts: str) -> None:
    """No token, key or signing secret in anything Slack received or the bot logged."""
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


class NoJitter(Jitter):
    """slack_sdk's backoff as computed, with nothing random added."""

    def recalculate(self, duration: float) -> float:
        return duration
