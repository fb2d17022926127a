"""``python -m bot`` in Socket Mode: envelopes over a loopback websocket, acks back, answers to Slack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.actions import ActionId
from tests.blockkit import all_text
from tests.conftest import APP_TOKEN, RunningBot, assert_no_secrets, start_bot, start_bot_process
from tests.fakes.gcore import FakeGcore, seed_deployment
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import block_action, slash_command
from tests.test_e2e_http import button


@pytest.fixture
def socket_bot(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[RunningBot]:
    gcore.reset()
    gcore.put(seed_deployment())
    slack.clear()
    bot = start_bot_process(gcore, slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
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
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    gcore.reset()
    slack.clear()
    slack.fail_next("apps.connections.open", "internal_error", status=500)
    bot = start_bot(gcore, slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
    try:
        # start_bot waited for /healthz: it answers before Slack does.
        slack.wait_for_socket_client()
        log = bot.log()
        assert log.count("cannot open a Socket Mode connection to Slack (internal_error, attempt 1)") == 1
        assert "Traceback" not in log and "Failed to connect" not in log
        assert len(slack.calls("apps.connections.open")) == 2
    finally:
        bot.stop()
