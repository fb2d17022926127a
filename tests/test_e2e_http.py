"""``python -m bot`` in HTTP mode, driven with signed requests exactly as Slack sends them.

Every assertion is on what a user would see (what reached the Slack fake) or what Gcore was asked.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import pytest

from bot.actions import ActionId
from tests.blockkit import all_text, limit_problems
from tests.bots import (
    GCORE_KEY,
    PROJECT,
    RunningBot,
    assert_no_secrets,
    bot_environment,
    free_port,
    start_bot_process,
)
from tests.fakes.gcore import FakeGcore, seed_deployment
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import form_body, slash_command


def button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    for block in blocks:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("action_id") == action_id:
                return dict(element)
    raise AssertionError(f"no {action_id} button in the message")


def test_healthz(bot: RunningBot) -> None:
    assert bot.http.get(f"{bot.url}/healthz").json() == {"ok": True}


def test_http_mode_as_an_operator_runs_it(gcore: FakeGcore, slack: FakeSlack, tmp_path: Any) -> None:
    """The other tests run the bot's serve() in this process; this one runs ``python -m bot`` itself."""
    gcore.reset()
    gcore.put(seed_deployment())
    process = start_bot_process(gcore, slack, tmp_path)
    try:
        card = process.reply(process.command("status my-instance")).body
        assert card["blocks"][0]["text"]["text"] == "🟢 my-instance"
    finally:
        process.stop()
    assert_no_secrets(process.log())


def test_missing_setting_names_it_and_exits(gcore: FakeGcore, slack: FakeSlack, tmp_path: Any) -> None:
    env = bot_environment(gcore, slack, free_port())
    del env["GCORE_API_KEY"]
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "GCORE_API_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert "xoxb-" not in result.stderr


def test_rejected_slack_token_stops_start_up(gcore: FakeGcore, slack: FakeSlack, tmp_path: Any) -> None:
    slack.clear()
    slack.fail_next("auth.test", "invalid_auth")
    env = bot_environment(gcore, slack, free_port())
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_card_end_to_end(bot: RunningBot, gcore: FakeGcore) -> None:
    gcore.update(
        PROJECT,
        "my-instance",
        description="<!channel> deploy done @everyone",
        envs={"HF_TOKEN": "hf_verysecret"},
    )
    response_id = bot.command("status my-instance")
    reply = bot.reply(response_id)
    body = reply.body
    assert body["response_type"] == "ephemeral"
    assert body["blocks"][0]["text"]["text"] == "🟢 my-instance"
    assert "my-instance is active" in body["text"]
    text = all_text(body["blocks"])
    assert "&lt;!channel&gt; deploy done @\u2060everyone" in text
    assert "<!channel>" not in json.dumps(body)
    assert "hf_verysecret" not in json.dumps(body) and "Bearer token 123" not in json.dumps(body)
    assert not limit_problems(body["blocks"], body["text"])
    assert "link_names" not in body and "parse" not in body
    # The region names are looked up alongside, and may come last: only the inference API's requests here.
    asked = [r for r in gcore.requests if r.method == "GET" and r.path.startswith("/cloud/v3/inference/")]
    assert asked[-1].path == "/cloud/v3/inference/1/deployments/my-instance"
    assert asked[-1].headers["Authorization"] == f"APIKey {GCORE_KEY}"


def test_refresh_replaces_the_card_in_place(bot: RunningBot, gcore: FakeGcore) -> None:
    response_id = bot.command("status my-instance")
    card = bot.reply(response_id).body
    gcore.set_status(PROJECT, "my-instance", "PARTIALLYDEPLOYED")
    gcore.update(
        PROJECT,
        "my-instance",
        containers=[{**seed_deployment()["containers"][0], "error_message": "OOMKilled"}],
    )
    refresh_id = bot.click(button(card["blocks"], ActionId.REFRESH))
    refreshed = bot.reply(refresh_id).body
    assert refreshed["replace_original"] is True
    assert refreshed["blocks"][0]["text"]["text"] == "🟡 my-instance"
    # Region 1 by name, or by id when this bot's names lookup failed earlier (tests/test_e2e_regions.py).
    assert re.search(r"⚠️ \*(Luxembourg-2|Region 1)\* · 1/3 ready · OOMKilled", all_text(refreshed["blocks"]))
    assert "updated <!date^" in all_text(refreshed["blocks"])


def test_share_posts_the_card_in_channel(bot: RunningBot) -> None:
    response_id = bot.command("status my-instance")
    card = bot.reply(response_id).body
    share_id = bot.click(button(card["blocks"], ActionId.SHARE), user_id="U0BOB")
    shared = bot.reply(share_id).body
    assert shared["response_type"] == "in_channel"
    assert shared["replace_original"] is False
    assert "shared by <@U0BOB>" in all_text(shared["blocks"])
    assert ActionId.SHARE not in json.dumps(shared["blocks"])
    assert bot.reply(share_id, index=1).body["delete_original"] is True


def test_view_details_opens_a_modal_then_fills_it(bot: RunningBot, slack: FakeSlack) -> None:
    response_id = bot.command("status my-instance")
    card = bot.reply(response_id).body
    bot.click(button(card["blocks"], ActionId.DETAILS))
    update = wait_for(lambda: slack.calls("views.update"))[0]
    opened = slack.calls("views.open")[0]
    assert opened.params["trigger_id"] == "1337.42.abcd"
    assert "Loading" in all_text(opened.params["view"]["blocks"])
    details = all_text(update.params["view"]["blocks"])
    assert "`KEY` = ••••••" in details and "12345" not in details
    assert "`Authorization`: ••••••" in details


@pytest.mark.usefixtures("quick_slack_retries")
def test_a_busy_slack_is_waited_out_then_told_in_words(bot: RunningBot, slack: FakeSlack) -> None:
    card = bot.reply(bot.command("status my-instance")).body
    # One 429 on views.open: the Web API wrapper's retry handler waits it out and the modal opens (that it is
    # retried is tested here, not how long Retry-After makes it wait).
    slack.fail_next("views.open", "ratelimited", status=429, headers={"Retry-After": "0"})
    bot.click(button(card["blocks"], ActionId.DETAILS))
    wait_for(lambda: slack.calls("views.update"), timeout=10, message="the filled modal")
    assert len(slack.calls("views.open")) == 2
    # Still 429 after the retries: one sentence, no bug id.
    slack.fail_next("views.open", "ratelimited", times=5, status=429, headers={"Retry-After": "0"})
    reply = bot.reply(bot.click(button(card["blocks"], ActionId.DETAILS))).body
    assert reply["text"] == "Slack is rate limiting the bot right now; try again in a few seconds."


def test_list_pages_through_every_deployment(bot: RunningBot, gcore: FakeGcore) -> None:
    for i in range(44):
        gcore.put(seed_deployment(name=f"model-{i:02d}", status="PENDING" if i % 2 else "ACTIVE"))
    response_id = bot.command("list")
    first = bot.reply(response_id).body
    assert first["text"] == "45 deployments in project 1 (page 1 of 3)"
    assert "model-00" in all_text(first["blocks"])
    assert not limit_problems(first["blocks"], first["text"])
    next_id = bot.click(button(first["blocks"], ActionId.LIST_NEXT))
    second = bot.reply(next_id).body
    assert second["replace_original"] is True
    assert "Page 2 of 3" in all_text(second["blocks"])
    assert "model-20" in all_text(second["blocks"])
    show_id = bot.click(button(second["blocks"], ActionId.SHOW_CARD))
    assert bot.reply(show_id).body["blocks"][0]["text"]["text"] == "🟢 model-20"


def test_help_and_unknown_words(bot: RunningBot) -> None:
    response_id = bot.command("help")
    assert "status &lt;name&gt;" in all_text(bot.reply(response_id).body["blocks"])
    response_id = bot.command("restart everything <!here>")
    reply = all_text(bot.reply(response_id).body["blocks"])
    assert "I don't know `restart everything &lt;!here&gt;`" in reply


def test_bad_name_is_refused_before_asking_gcore(bot: RunningBot, gcore: FakeGcore) -> None:
    response_id = bot.command("status My_Instance!")
    reply = bot.reply(response_id).body
    assert "cannot be a deployment name" in reply["text"]
    assert reply["response_type"] == "ephemeral"
    assert not gcore.requests


def test_unknown_deployment(bot: RunningBot) -> None:
    response_id = bot.command("status nope-nope --project 1")
    assert bot.reply(response_id).body["text"] == "There is no deployment named `nope-nope` in project 1."


@pytest.mark.usefixtures("quick_gcore_retries")
def test_gcore_down_gets_one_sentence(bot: RunningBot, gcore: FakeGcore) -> None:
    gcore.set_down(True)
    response_id = bot.command("status my-instance")
    reply = bot.reply(response_id, timeout=20).body
    assert reply["text"] == "The Gcore API did not answer; try again in a minute."
    assert "Traceback" not in json.dumps(reply)


def test_gcore_key_rejected(bot: RunningBot, gcore: FakeGcore) -> None:
    gcore.fail_next(401, body={"message": "Invalid API key"})
    response_id = bot.command("status my-instance")
    assert "Gcore API key was rejected" in bot.reply(response_id).body["text"]


def test_gcore_garbage_answer(bot: RunningBot, gcore: FakeGcore) -> None:
    gcore.set_invalid_json()
    response_id = bot.command("status my-instance")
    assert "could not read" in bot.reply(response_id).body["text"]


def test_slow_gcore_is_acked_first_and_answered_later(
    bot: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    # The ack does not wait for Gcore at all (bot/slack/web.py), so any delay well past the ack's own latency
    # shows it as well as one past the 3 s Slack waits for an ack.
    gcore.set_delay(1.0)
    response_id = bot.command("status my-instance")
    # The ack (checked by bot.command) came back while Gcore was still thinking: nothing answered yet.
    assert not slack.responses(response_id)
    reply = bot.reply(response_id, timeout=15).body
    assert reply["blocks"][0]["text"]["text"] == "🟢 my-instance"


def test_bad_and_stale_signatures_are_refused(bot: RunningBot) -> None:
    body = form_body(slash_command("status my-instance", response_url=bot.slack.new_response_url()))
    stale = bot.post_signed(body, timestamp=int(time.time()) - 600)
    assert stale.status_code == 401
    forged = bot.http.post(
        f"{bot.url}/slack/events",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(int(time.time())),
            "X-Slack-Signature": "v0=" + "0" * 64,
        },
    )
    assert forged.status_code == 401
