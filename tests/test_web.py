"""Which Slack requests the web layer acknowledges itself before Bolt runs them."""

from __future__ import annotations

import json

from bot.slack.web import acks_empty
from tests.fakes.slack_requests import block_action, form_body, interactive_body, slash_command


def test_slash_commands_and_button_clicks_are_acked_at_once() -> None:
    assert acks_empty(form_body(slash_command("status my-instance", response_url="http://x/r")))
    click = block_action("deployment.refresh", "{}", response_url="http://x/r")
    assert acks_empty(interactive_body(click))


def test_everything_else_goes_through_bolt() -> None:
    submission = {"type": "view_submission", "view": {}}
    assert not acks_empty(interactive_body(submission))
    assert not acks_empty(json.dumps({"type": "url_verification", "challenge": "x"}))
    assert not acks_empty("payload=not-json")
