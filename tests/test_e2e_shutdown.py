"""SIGTERM drains: ``python -m bot`` stops taking Slack requests, answers every one it acknowledged, finishes
the alert it is posting, and exits 0 within 10 seconds (bot/lifecycle.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.bots import (
    APP_TOKEN,
    PROJECT,
    SIGNING_SECRET,
    BotInProcess,
    BotProcess,
    assert_no_secrets,
    fresh_fakes,
    start_bot,
    start_bot_process,
)
from tests.fakes.gcore import FakeGcore
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import form_body, signed_headers, slash_command
from tests.test_e2e_watch import WatchBot

DEPLOYMENT_PATH = f"/cloud/v3/inference/{PROJECT}/deployments/my-instance"
# The drain's bound (bot.lifecycle.DRAIN_SECONDS), and a little for the interpreter to exit.
EXIT_WITHIN = 10.5
BURST = 30
# Gcore answers each status this late: the burst's commands are acknowledged long before they are answered
# (the acks the tests wait for before the signal take a tenth of this on a loaded machine).
GCORE_DELAY = 1.0


@dataclass
class Sent:
    """One slash command of the burst: when it was sent, how the bot answered the POST, and its response_url."""

    response_id: str
    started: float
    finished: float
    status: int | None  # None: the connection was refused or dropped (the bot had exited)


def send_status(bot: BotProcess, slack: FakeSlack) -> Sent:
    response_url = slack.new_response_url()
    body = form_body(slash_command("status my-instance", response_url=response_url))
    started = time.monotonic()
    try:
        status: int | None = bot.post_signed(body).status_code
    except httpx.TransportError:
        status = None
    return Sent(response_url.rsplit("/", 1)[-1], started, time.monotonic(), status)


def fresh_process(
    gcore: FakeGcore, slack: FakeSlack, workdir: Path, **env: str
) -> tuple[BotProcess, subprocess.Popen[bytes]]:
    """``python -m bot`` on fakes as a new bot finds them (the seed deployment, nothing sent yet), and its
    process."""
    fresh_fakes(gcore, slack)
    bot = start_bot_process(gcore, slack, workdir, **env)
    assert bot.process is not None
    return bot, bot.process


def exit_status(bot: BotProcess, signalled: float) -> tuple[int, float]:
    """The process's exit status and how long after the signal it exited (bounded wait)."""
    assert bot.process is not None
    code = bot.process.wait(timeout=EXIT_WITHIN + 5)
    return code, time.monotonic() - signalled


def test_sigterm_during_a_burst_answers_every_acknowledged_command(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    bot, process = fresh_process(gcore, slack, tmp_path)
    try:
        gcore.set_delay(GCORE_DELAY, path=DEPLOYMENT_PATH)
        sent: list[Sent] = []
        lock = threading.Lock()

        def one() -> None:
            result = send_status(bot, slack)
            with lock:
                sent.append(result)

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(one) for _ in range(BURST)]
            # Mid-burst: a third acknowledged, none answered yet (Gcore holds each for GCORE_DELAY).
            wait_for(lambda: sum(s.status == 200 for s in sent) >= BURST // 3, timeout=10, message="10 acks")
            os.kill(process.pid, signal.SIGTERM)
            signalled = time.monotonic()
            answered_before = len(slack.responses())
            for future in futures:
                future.result(timeout=15)
        # /readyz while the bot drains (Gcore still holds the acknowledged commands).
        readiness = bot.http.get(f"{bot.url}/readyz", timeout=2.0)
        code, took = exit_status(bot, signalled)
    finally:
        gcore.set_delay(0, path=DEPLOYMENT_PATH)
        bot.stop()

    assert (readiness.status_code, readiness.json()["problems"][0]) == (503, "shutting down")
    assert code == 0, bot.log()
    assert took < EXIT_WITHIN, f"exited {took:.1f} s after SIGTERM"
    acked = [s for s in sent if s.status == 200]
    refused = [s for s in sent if s.status == 503]
    assert len(acked) >= BURST // 3 and refused, [s.status for s in sent]
    # At the signal, acknowledged commands still waited on Gcore: the drain had them to answer.
    assert answered_before < BURST // 3
    # Nothing but an ack (answered) or a 503 (Slack shows its error; nothing was taken).
    assert all(s.status in (200, 503) for s in sent), [s.status for s in sent]
    # Once the bot said 503, it took nothing more.
    first_refusal = min(s.finished for s in refused)
    assert not [s for s in acked if s.started > first_refusal]
    # Every acknowledged command got its card before the process exited.
    for command in acked:
        (answer,) = slack.responses(command.response_id)
        assert answer.body["blocks"][0]["text"]["text"] == "🟢 my-instance"
    for command in refused:
        assert slack.responses(command.response_id) == []
    log = bot.log()
    assert "Traceback" not in log and "cut short" not in log
    assert_no_secrets(log)


def test_sigterm_in_socket_mode_closes_the_socket_first_and_answers_what_was_acknowledged(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    bot, process = fresh_process(gcore, slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
    try:
        slack.wait_for_socket_client()
        gcore.set_delay(GCORE_DELAY, path=DEPLOYMENT_PATH)
        urls = [slack.new_response_url() for _ in range(5)]
        for url in urls:
            slack.wait_for_ack(
                slack.send_envelope("slash_commands", slash_command("status my-instance", response_url=url))
            )
        os.kill(process.pid, signal.SIGTERM)
        signalled = time.monotonic()
        # Slack sends nothing more to a replica that is stopping: its socket closes while the commands it
        # acknowledged still wait on Gcore.
        wait_for(lambda: slack.socket_client_count == 0, timeout=1.0, message="the socket to close")
        assert process.poll() is None and len(slack.responses()) < len(urls)
        code, took = exit_status(bot, signalled)
    finally:
        gcore.set_delay(0, path=DEPLOYMENT_PATH)
        bot.stop()
    assert code == 0, bot.log()
    assert took < EXIT_WITHIN
    for url in urls:
        (answer,) = slack.responses(url.rsplit("/", 1)[-1])
        assert answer.body["blocks"][0]["text"]["text"] == "🟢 my-instance"
    assert "Traceback" not in bot.log()


def delivery_states(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return [state for (state,) in connection.execute("SELECT state FROM deliveries")]


def test_sigterm_while_an_alert_is_posted_finishes_it_once(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    fresh_fakes(gcore, slack)
    watcher = WatchBot(gcore, slack, tmp_path, process=True)
    try:
        watcher.watch()
        bot = watcher.bot
        assert isinstance(bot, BotProcess) and bot.process is not None
        # Slack takes the post at once but answers 1 s later: the delivery is in flight when the signal comes.
        slack.set_delay("chat.postMessage", 1.0)
        gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
        wait_for(lambda: slack.calls("chat.postMessage"), timeout=15, message="the alert's post")
        os.kill(bot.process.pid, signal.SIGTERM)
        code, took = exit_status(bot, time.monotonic())
        assert code == 0, bot.log()
        assert took < EXIT_WITHIN
        # Finished by the process that stopped, not left for the next start to look up.
        assert delivery_states(tmp_path / "bot.db") == ["done"]
        slack.set_delay("chat.postMessage", 0.0)
        # The next start need not be a process: the one that stopped is the one under test.
        bot.stop()
        watcher.bot = start_bot(gcore, slack, tmp_path, **watcher.env)
        watcher.polls(3)
        (alert,) = watcher.alerts()
        assert "🟢 Active → 🔵 Deploying" in str(alert["blocks"])
        assert delivery_states(tmp_path / "bot.db") == ["done"]
    finally:
        watcher.bot.stop()
    assert_no_secrets(watcher.bot.log())


def test_sigint_stops_an_idle_bot_at_once_with_status_0(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    bot, process = fresh_process(gcore, slack, tmp_path)
    try:
        os.kill(process.pid, signal.SIGINT)
        code, took = exit_status(bot, time.monotonic())
    finally:
        bot.stop()
    assert code == 0, bot.log()
    assert took < 2.0, f"exited {took:.1f} s after SIGINT"
    log = bot.log()
    assert "SIGINT: stopping" in log and "everything taken was finished" in log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log


def test_a_command_whose_body_arrives_after_the_stop_began_gets_503_not_an_unanswered_200(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    fresh_fakes(gcore, slack)
    bot = start_bot(gcore, slack, tmp_path)
    assert isinstance(bot, BotInProcess) and bot.loop is not None and bot.shutdown is not None
    body = form_body(slash_command("status my-instance", response_url=slack.new_response_url())).encode()
    headers = signed_headers(SIGNING_SECRET, body.decode())
    first_half_sent, rest_may_go = threading.Event(), threading.Event()

    def chunks() -> Iterator[bytes]:
        # The first half now, the rest once the stop has begun (chunked: no Content-Length to read ahead).
        yield body[: len(body) // 2]
        # Asked for the next chunk: the headers and the first half are on the wire. A stop before then
        # would meet no request at all, only a connection to close.
        first_half_sent.set()
        assert rest_may_go.wait(10)
        yield body[len(body) // 2 :]

    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(bot.http.post, f"{bot.url}/slack/events", content=chunks(), headers=headers)
        assert first_half_sent.wait(10)
        bot.loop.call_soon_threadsafe(bot.shutdown.set)
        wait_for(lambda: "SIGTERM" in bot.log() or "stopping" in bot.log(), timeout=5, message="the stop")
        rest_may_go.set()
        status = answer.result(timeout=10).status_code
    bot.stop()
    assert status == 503
    assert not slack.responses() and not [r for r in gcore.requests if r.path == DEPLOYMENT_PATH]
