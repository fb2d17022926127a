"""The bot in Socket Mode: envelopes over a loopback websocket, acks back, answers to Slack. Its serve() runs in
this process; ``python -m bot`` in Socket Mode is test_e2e_shutdown.py's SIGTERM test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.actions import ActionId
from bot.slack import socket_mode
from tests.blockkit import all_text
from tests.bots import APP_TOKEN, RunningBot, assert_no_secrets, fresh_fakes, start_bot
from tests.fakes.gcore import FakeGcore
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import block_action, slash_command
from tests.test_e2e_http import button

NOT_CONNECTED = "Socket Mode is not connected to Slack yet"
TOKEN_REJECTED = "Slack rejected the app token, SLACK_APP_TOKEN (invalid_auth)"


@pytest.fixture
def socket_bot(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[RunningBot]:
    fresh_fakes(gcore, slack)
    bot = start_bot(gcore, slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
    slack.wait_for_socket_client()
    yield bot
    bot.stop()
    assert_no_secrets(bot.log())


def test_socket_mode_command_and_button(socket_bot: RunningBot, slack: FakeSlack) -> None:
    opened = slack.calls("apps.connections.open")
    assert opened and opened[0].token == APP_TOKEN
    # No public endpoint in Socket Mode: only the health check is served.
    assert socket_bot.http.post(f"{socket_bot.url}/slack/events", content="x").status_code in (404, 405)

    response_url = slack.new_response_url()
    envelope = slack.send_envelope(
        "slash_commands", slash_command("status my-instance", response_url=response_url)
    )
    ack = slack.wait_for_ack(envelope)
    assert ack["envelope_id"] == envelope
    card = socket_bot.reply(response_url.rsplit("/", 1)[-1]).body
    assert card["blocks"][0]["text"]["text"] == "🟢 my-instance"

    refresh_url = slack.new_response_url()
    refresh = button(card["blocks"], ActionId.REFRESH)
    envelope = slack.send_envelope(
        "interactive", block_action(refresh["action_id"], refresh["value"], response_url=refresh_url)
    )
    slack.wait_for_ack(envelope)
    refreshed = socket_bot.reply(refresh_url.rsplit("/", 1)[-1]).body
    assert refreshed["replace_original"] is True
    assert "Running and ready to accept requests." in all_text(refreshed["blocks"])


def test_slack_out_of_reach_is_one_warning_per_attempt_while_the_health_checks_answer(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcore.reset()
    slack.clear()
    slack.fail_next("apps.connections.open", "internal_error", status=500)
    bot = socket_bot_in_process(gcore, slack, tmp_path, monkeypatch, first=0.05, most=0.2)
    try:
        # start_bot waited for /healthz: it answers before Slack does.
        slack.wait_for_socket_client()
        log = bot.log()
        assert log.count("cannot open a Socket Mode connection to Slack (internal_error, attempt 1)") == 1
        assert "Traceback" not in log and "Failed to connect" not in log and "Failed to retrieve" not in log
        assert len(slack.calls("apps.connections.open")) == 2
    finally:
        bot.stop()


def readiness(bot: RunningBot) -> tuple[int, object]:
    answer = bot.http.get(f"{bot.url}/readyz")
    return answer.status_code, answer.json()


def socket_bot_in_process(
    gcore: FakeGcore,
    slack: FakeSlack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    first: float,
    most: float,
) -> RunningBot:
    """A Socket Mode bot in this process, on a backoff from ``first`` to ``most`` seconds."""
    monkeypatch.setattr(socket_mode, "FIRST_RETRY_SECONDS", first)
    monkeypatch.setattr(socket_mode, "MAX_RETRY_SECONDS", most)
    return start_bot(gcore, slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")


def test_a_refused_websocket_is_one_warning_per_attempt_each_on_a_fresh_url(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_fakes(gcore, slack)
    slack.refuse_socket_upgrades(1000, status=503)
    bot = socket_bot_in_process(gcore, slack, tmp_path, monkeypatch, first=0.05, most=0.2)
    try:
        wait_for(lambda: len(slack.socket_upgrades()) >= 3, timeout=10, message="three refused upgrades")
        assert readiness(bot) == (503, {"ready": False, "problems": [NOT_CONNECTED]})
        assert bot.http.get(f"{bot.url}/healthz").status_code == 200
        slack.refuse_socket_upgrades(0)
        slack.wait_for_socket_client()
        wait_for(lambda: readiness(bot)[0] == 200, timeout=5, message="ready once connected")

        upgrades = slack.socket_upgrades()
        # Every attempt on a URL of its own, asked for from apps.connections.open.
        assert len(upgrades) == len(set(upgrades)) == len(slack.calls("apps.connections.open"))
        log = bot.log()
        refused = [line for line in log.splitlines() if "cannot open the Socket Mode websocket" in line]
        assert len(refused) == len(upgrades) - 1
        for attempt, line in enumerate(refused, start=1):
            assert f"(HTTP 503, attempt {attempt}); asking for a new URL" in line and " WARNING " in line
        assert f"opened after {len(upgrades)} attempts" in log
        assert "Traceback" not in log and "Failed to connect" not in log and " ERROR " not in log
        # The tickets admit a connection: kept out of the log.
        assert not [ticket for ticket in upgrades if ticket in log]

        response_url = slack.new_response_url()
        slack.wait_for_ack(
            slack.send_envelope(
                "slash_commands", slash_command("status my-instance", response_url=response_url)
            )
        )
        card = bot.reply(response_url.rsplit("/", 1)[-1]).body
        assert card["blocks"][0]["text"]["text"] == "🟢 my-instance"
    finally:
        slack.refuse_socket_upgrades(0)
        bot.stop()
    assert_no_secrets(bot.log())


def test_a_rejected_app_token_is_one_error_and_not_ready_until_slack_accepts_it(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_fakes(gcore, slack)
    slack.fail_next("apps.connections.open", "invalid_auth", times=1000)
    # A rejected token is asked about at the backoff's longest interval, not from its first.
    bot = socket_bot_in_process(gcore, slack, tmp_path, monkeypatch, first=5.0, most=0.1)
    try:
        wait_for(lambda: len(slack.calls("apps.connections.open")) >= 3, timeout=10, message="three refusals")
        assert readiness(bot) == (503, {"ready": False, "problems": [TOKEN_REJECTED]})
        assert bot.http.get(f"{bot.url}/healthz").status_code == 200
        slack.clear()  # Slack accepts the token again (the app reinstalled).
        slack.wait_for_socket_client()
        wait_for(lambda: readiness(bot) == (200, {"ready": True}), timeout=5, message="ready once connected")

        log = bot.log()
        errors = [line for line in log.splitlines() if " ERROR " in line]
        assert len(errors) == 1 and "Slack rejected SLACK_APP_TOKEN (invalid_auth)" in errors[0], errors
        assert "Slack still rejects SLACK_APP_TOKEN (invalid_auth, attempt 2)" in log
        assert log.count("Slack accepts SLACK_APP_TOKEN now") == 1
        assert "Traceback" not in log and "Failed to retrieve WSS URL" not in log

        envelope = slack.send_envelope(
            "slash_commands", slash_command("status my-instance", response_url=slack.new_response_url())
        )
        assert slack.wait_for_ack(envelope)["envelope_id"] == envelope
    finally:
        slack.clear()
        bot.stop()
    assert_no_secrets(bot.log())


def test_a_stop_ends_the_backoff_at_once(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcore.reset()
    slack.clear()
    slack.refuse_socket_upgrades(1000)
    bot = socket_bot_in_process(gcore, slack, tmp_path, monkeypatch, first=60.0, most=60.0)
    try:
        wait_for(lambda: "asking for a new URL in 60 s" in bot.log(), timeout=10, message="the backoff")
    finally:
        started = time.monotonic()
        bot.stop()
        took = time.monotonic() - started
        slack.refuse_socket_upgrades(0)
    assert took < 2.0, took
    assert len(slack.socket_upgrades()) == 1
    log = bot.log()
    assert "Traceback" not in log and "connected to Slack in Socket Mode" not in log


def test_a_reconnect_slack_asks_for_retries_the_refused_websocket_while_the_bot_stays_ready(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_fakes(gcore, slack)
    bot = socket_bot_in_process(gcore, slack, tmp_path, monkeypatch, first=0.05, most=0.2)
    try:
        slack.wait_for_socket_client()
        wait_for(lambda: readiness(bot)[0] == 200, timeout=5, message="ready once connected")
        slack.refuse_socket_upgrades(2)
        slack.send_message({"type": "disconnect", "reason": "refresh_requested"})
        wait_for(lambda: len(slack.socket_upgrades()) >= 2, timeout=10, message="the reconnect's attempts")
        # Reconnects are routine: the bot stays ready through them.
        assert readiness(bot)[0] == 200
        wait_for(lambda: "opened after 3 attempts" in bot.log(), timeout=10, message="the reconnect")
        assert slack.socket_client_count == 1
        assert len(slack.calls("apps.connections.open")) == len(set(slack.socket_upgrades())) == 4

        log = bot.log()
        assert "(HTTP 503, attempt 1)" in log and "(HTTP 503, attempt 2)" in log and "attempt 3" not in log
        assert "Traceback" not in log and " ERROR " not in log

        response_url = slack.new_response_url()
        slack.wait_for_ack(
            slack.send_envelope(
                "slash_commands", slash_command("status my-instance", response_url=response_url)
            )
        )
        assert (
            bot.reply(response_url.rsplit("/", 1)[-1]).body["blocks"][0]["text"]["text"] == "🟢 my-instance"
        )
    finally:
        slack.refuse_socket_upgrades(0)
        bot.stop()
    assert_no_secrets(bot.log())
