"""Requests no Slack would send, at the bot's HTTP door: each gets its status code before any listener runs,
and nothing reaches Gcore or Slack."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.actions import ActionId
from tests.bots import SIGNING_SECRET, RunningBot, start_bot
from tests.fakes.gcore import FakeGcore
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import (
    block_action,
    form_body,
    interactive_body,
    signed_headers,
    slash_command,
)

MEGABYTE = 1024 * 1024


def command_body(bot: RunningBot) -> str:
    return form_body(slash_command("status my-instance", response_url=bot.slack.new_response_url()))


def nothing_reached_gcore_or_slack(gcore: FakeGcore, slack: FakeSlack) -> bool:
    return not gcore.requests and not slack.responses() and not slack.calls()


@pytest.mark.parametrize(
    "timestamp", [b"", b"soon", b"1.5", b"9" * 5000, b"-1", str(10**30).encode(), "１２３".encode()]
)
def test_a_malformed_timestamp_is_401(
    bot: RunningBot, gcore: FakeGcore, slack: FakeSlack, timestamp: bytes
) -> None:
    body = command_body(bot)
    headers = {
        b"Content-Type": b"application/x-www-form-urlencoded",
        b"X-Slack-Request-Timestamp": timestamp,
        b"X-Slack-Signature": b"v0=" + b"0" * 64,
    }
    gcore.clear_requests()
    answer = bot.http.post(f"{bot.url}/slack/events", content=body.encode(), headers=headers)
    assert answer.status_code == 401
    assert nothing_reached_gcore_or_slack(gcore, slack)


def test_a_signature_from_the_future_or_missing_is_401(bot: RunningBot, gcore: FakeGcore) -> None:
    body = command_body(bot)
    gcore.clear_requests()
    future = bot.post_signed(body, timestamp=int(time.time()) + 600)
    missing = bot.http.post(
        f"{bot.url}/slack/events",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (future.status_code, missing.status_code) == (401, 401)
    assert not gcore.requests


def test_a_body_over_a_megabyte_is_413_whether_declared_or_streamed(
    bot: RunningBot, slack: FakeSlack
) -> None:
    declared = bot.http.post(f"{bot.url}/slack/events", content=b"x" * (MEGABYTE + 1))
    assert declared.status_code == 413

    sent = 0

    def chunks() -> Iterator[bytes]:
        # No Content-Length: chunked, so only counting the bytes as they arrive can stop it.
        nonlocal sent
        for _ in range(100):
            sent += 64 * 1024
            yield b"x" * (64 * 1024)

    streamed = bot.http.post(f"{bot.url}/slack/events", content=chunks())
    assert streamed.status_code == 413
    # A signed body of a megabyte exactly is still read (and then found to be no Slack request).
    body = "x" * MEGABYTE
    assert bot.post_signed(body).status_code != 413
    assert not slack.responses()


def test_a_signed_body_that_is_not_utf8_is_400(bot: RunningBot, gcore: FakeGcore, slack: FakeSlack) -> None:
    raw = b"command=%2Finference&text=\xff\xfe"
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": sign_bytes(raw, timestamp),
    }
    gcore.clear_requests()
    assert bot.http.post(f"{bot.url}/slack/events", content=raw, headers=headers).status_code == 400
    assert nothing_reached_gcore_or_slack(gcore, slack)


def sign_bytes(raw: bytes, timestamp: int) -> str:
    """Slack's signature over raw bytes (the builders sign text)."""
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "payload",
    [
        "[1, 2]",
        '"a string"',
        "{",
        json.dumps({"type": "view_submission"}),
        json.dumps({"type": "view_submission", "view": "junk", "user": {"id": "U0ALICE"}}),
        json.dumps({"type": "block_actions", "actions": [{}], "user": {"id": "U0ALICE"}}),
        json.dumps({"type": "block_actions", "actions": [], "user": {"id": "U0ALICE"}}),
        json.dumps({"type": "block_actions", "actions": [{"action_id": "deployment.refresh"}]}),
    ],
)
def test_a_signed_payload_of_the_wrong_shape_is_400(bot: RunningBot, slack: FakeSlack, payload: str) -> None:
    body = interactive_body_of(payload)
    logged = len(bot.log())
    answer = bot.http.post(
        f"{bot.url}/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body)
    )
    assert answer.status_code == 400
    assert "Traceback" not in bot.log()[logged:]
    assert not slack.responses() and not slack.calls()


def interactive_body_of(raw_payload: str) -> str:
    return urlencode({"payload": raw_payload})


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        (ActionId.UNWATCH_SUBSCRIPTION, {"id": 2**31}),
        (ActionId.REFRESH, {"project_id": 2**31, "name": "my-instance"}),
        (ActionId.LIST_NEXT, {"project_id": 1, "page": 2**63}),
    ],
)
def test_an_id_past_what_the_database_holds_is_a_stale_button_on_postgresql(
    postgres_url: str,
    gcore: FakeGcore,
    slack: FakeSlack,
    tmp_path: Path,
    action_id: str,
    value: dict[str, int],
) -> None:
    gcore.reset()
    slack.clear()
    bot = start_bot(gcore, slack, tmp_path, DATABASE_URL=postgres_url)
    try:
        click = {"action_id": action_id, "value": json.dumps(value)}
        reply = bot.reply(bot.click(click)).body
        assert reply["text"] == "This button is out of date; run the command again for a fresh one."
        assert "unexpected error" not in bot.log() and not gcore.requests
    finally:
        bot.stop()


# Found by tests/test_properties_payloads.py: a click without its channel got an error id (a KeyError in the
# listener), and one without a response_url raised out of the error path itself.
@pytest.mark.parametrize("action_id", [ActionId.WATCH_DEPLOYMENT, ActionId.SHOW_HISTORY, ActionId.REFRESH])
def test_a_click_without_its_channel_is_a_stale_button(
    bot: RunningBot, gcore: FakeGcore, slack: FakeSlack, action_id: str
) -> None:
    response_url = slack.new_response_url()
    payload = block_action(action_id, '{"project_id": 1, "name": "my-instance"}', response_url=response_url)
    del payload["channel"]
    logged = len(bot.log())
    gcore.clear_requests()
    assert bot.post_signed(interactive_body(payload)).status_code == 200
    reply = bot.reply(response_url.rsplit("/", 1)[-1]).body
    assert reply["text"] == "This button is out of date; run the command again for a fresh one."
    assert not gcore.requests and "unexpected error" not in bot.log()[logged:]


@pytest.mark.parametrize("value", ["", '{"project_id": 1, "name": "my-instance"}'])
def test_a_click_without_a_response_url_is_answered_by_nothing_and_raises_nothing(
    bot: RunningBot, gcore: FakeGcore, slack: FakeSlack, value: str
) -> None:
    payload = block_action(ActionId.SHOW_LOGS, value, response_url="")
    del payload["response_url"]
    logged = len(bot.log())
    gcore.clear_requests()
    assert bot.post_signed(interactive_body(payload)).status_code == 200
    # The stale button's sentence is logged, with nowhere to send it.
    wait_for(lambda: "request failed: stale_button" in bot.log()[logged:])
    assert "Traceback" not in bot.log()[logged:] and "unexpected error" not in bot.log()[logged:]
    assert not gcore.requests and not slack.responses()
