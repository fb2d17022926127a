"""Stop and Start end to end, over real HTTP against the fakes: operators only, a confirmation that states
the effect, at most one POST to Gcore however often the same confirmation arrives, the channel told, the
watcher naming who did it, and every action and refusal in ``/inference audit``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers import operations
from tests.blockkit import all_text
from tests.bots import PROJECT, SIGNING_SECRET, RunningBot, assert_no_secrets, fresh_fakes, start_bot
from tests.databases import sqlite_rows
from tests.fakes.gcore import FakeGcore
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import (
    block_action,
    home_block_action,
    interactive_body,
    signed_headers,
    view_submission,
)
from tests.test_e2e_watch import LIST_PATH, WatchBot, watch_bot

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
GROUP = "S0OPS"
STOP_PATH = f"/cloud/v3/inference/{PROJECT}/deployments/my-instance/stop"
START_PATH = f"/cloud/v3/inference/{PROJECT}/deployments/my-instance/start"


@pytest.fixture
def ops(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[RunningBot]:
    """A bot where Alice is an operator by name, and the members of S0OPS (Carol) by group."""
    fresh_fakes(gcore, slack)
    slack.set_usergroup(GROUP, [CAROL])
    bot = start_bot(gcore, slack, tmp_path, OPERATOR_USER_IDS=ALICE, OPERATOR_USERGROUP_IDS=GROUP)
    yield bot
    bot.stop()
    sent = [c.params for c in slack.calls()] + [p.body for p in slack.responses()]
    assert_no_secrets(json.dumps(sent), bot.log(), sqlite_rows(tmp_path / "bot.db"))
    assert_no_response_url_in_views(slack)


def assert_no_response_url_in_views(slack: FakeSlack) -> None:
    """A response_url is a capability: no view the bot sends (whose metadata Slack's client holds) has one."""
    views = json.dumps([c.params for c in slack.calls() if c.method.startswith("views.")])
    assert "/response/" not in views and "response_url" not in views


def posts(gcore: FakeGcore, path: str) -> int:
    return sum(1 for r in gcore.requests if r.method == "POST" and r.path == path)


def confirmation(slack: FakeSlack, count: int = 1) -> dict[str, Any]:
    """The ``count``-th confirmation the bot filled in (views.update), as Slack holds the view."""

    def filled() -> dict[str, Any] | None:
        updates = slack.calls("views.update")
        if len(updates) < count:
            return None
        params = updates[count - 1].params
        return {**params["view"], "id": params["view_id"]}

    return wait_for(filled, timeout=10, message="the confirmation filled in")


def submit(
    bot: RunningBot, view: dict[str, Any], *, user_id: str = ALICE, retry: int | None = None
) -> dict[str, Any]:
    """Press the confirmation's submit button; the bot's ack body (empty: ``{}``)."""
    body = interactive_body(view_submission(view, user_id=user_id))
    headers = signed_headers(SIGNING_SECRET, body)
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    answer = bot.http.post(f"{bot.url}/slack/events", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json() if answer.text else {}


def click(bot: RunningBot, action_id: str, *, user_id: str = ALICE) -> str:
    """Click Stop or Start on a card (an ephemeral message); the response_url's id."""
    response_url = bot.slack.new_response_url()
    value = json.dumps({"project_id": PROJECT, "name": "my-instance"})
    payload = block_action(action_id, value, response_url=response_url, user_id=user_id, text="Stop")
    assert bot.post_signed(interactive_body(payload)).status_code == 200
    return response_url.rsplit("/", 1)[-1]


def click_in_home(bot: RunningBot, name: str) -> None:
    """Click Stop on the deployment ``name`` in Alice's Home tab: no channel, no response_url."""
    stop = {
        "type": "button",
        "action_id": "deployment.stop",
        "text": {"type": "plain_text", "text": "Stop"},
        "value": json.dumps({"project_id": PROJECT, "name": name}),
    }
    home = {
        "id": "V0HOME",
        "type": "home",
        "blocks": [{"type": "actions", "block_id": "a", "elements": [stop]}],
    }
    assert bot.post_signed(interactive_body(home_block_action(stop, home))).status_code == 200


def told(bot: RunningBot, response_id: str) -> dict[str, Any]:
    """What the bot said through the response_url: the first post."""
    return bot.reply(response_id).body


def test_an_operator_stops_through_the_command_with_one_post_however_often_it_is_confirmed(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    response_id = ops.command("stop my-instance")
    view = confirmation(slack)
    opened = slack.calls("views.open")
    assert len(opened) == 1 and "Checking" in all_text(opened[0].params["view"]["blocks"])
    text = all_text(view["blocks"])
    assert (
        "Stop *my-instance* in project 1? It serves 1 ready replica in Luxembourg-2 now; it stops, and "
        "requests fail until it is started again. Start brings it back at scale.min = 1 per region."
    ) in text
    assert view["submit"]["text"] == "Stop"
    assert posts(gcore, STOP_PATH) == 0  # nothing is done before the confirmation

    assert submit(ops, view) == {"response_action": "clear"}
    assert posts(gcore, STOP_PATH) == 1
    assert (gcore.get(PROJECT, "my-instance") or {}).get("status") == "DISABLED"
    done = told(ops, response_id)
    assert done["response_type"] == "in_channel"
    assert done["text"] == f"<@{ALICE}> stopped *my-instance*"

    # The same confirmation again (a double submit, another replica) and Slack's retry of it.
    submit(ops, view)
    submit(ops, view, retry=1)
    assert posts(gcore, STOP_PATH) == 1
    assert len(slack.responses(response_id)) == 1


def test_an_operator_stops_and_starts_again_through_the_card_buttons(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    card = ops.reply(ops.command("status my-instance")).body
    buttons = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "Stop" in [b["text"]["text"] for b in buttons] and "Start" not in [
        b["text"]["text"] for b in buttons
    ]

    response_id = click(ops, "deployment.stop")
    assert submit(ops, confirmation(slack)) == {"response_action": "clear"}
    assert told(ops, response_id)["text"] == f"<@{ALICE}> stopped *my-instance*"

    refreshed = ops.reply(ops.command("status my-instance")).body
    labels = [e["text"]["text"] for b in refreshed["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "Start" in labels and "Stop" not in labels

    response_id = click(ops, "deployment.start")
    view = confirmation(slack, 2)
    assert (
        "It is stopped now and serves no requests; it comes back in Luxembourg-2 at scale.min = 1"
        in all_text(view["blocks"])
    )
    assert submit(ops, view) == {"response_action": "clear"}
    assert told(ops, response_id)["text"] == f"<@{ALICE}> started *my-instance*"
    assert (posts(gcore, STOP_PATH), posts(gcore, START_PATH)) == (1, 1)


def test_a_non_operator_is_refused_in_the_modal_with_no_gcore_call(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    # The modal opens at once (membership may take a Slack call), then says why instead of the effect.
    ops.command("stop my-instance", user_id=BOB)
    refusal = all_text(confirmation(slack)["blocks"])
    assert "Only operators can start and stop deployments" in refusal and "OPERATOR_USER_IDS" in refusal
    click(ops, "deployment.stop", user_id=BOB)
    assert "Only operators" in all_text(confirmation(slack, 2)["blocks"])
    assert all("submit" not in c.params["view"] for c in slack.calls("views.update"))
    assert not [r for r in gcore.requests if "/my-instance" in r.path]
    lines = [all_text([b]) for b in told(ops, ops.command("audit"))["blocks"] if b["type"] == "section"]
    assert len(lines) == 2 and all(f"<@{BOB}> · stop *my-instance*" in line for line in lines)


def test_a_failed_group_lookup_after_the_modal_opened_says_so_in_it(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    slack.fail_next("usergroups.users.list", "no_such_subteam")
    ops.command("stop my-instance", user_id=CAROL)
    view = confirmation(slack)
    assert "Checking" not in all_text(view["blocks"]) and "submit" not in view
    assert not [r for r in gcore.requests if "/my-instance" in r.path]


def test_a_tampered_name_is_a_stale_button_and_reaches_neither_gcore_nor_the_audit(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    tampered = json.dumps({"project_id": PROJECT, "name": "x" * 5000})
    payload = block_action(
        "deployment.stop", tampered, response_url=slack.new_response_url(), user_id=ALICE, text="Stop"
    )
    assert ops.post_signed(interactive_body(payload)).status_code == 200
    stale = told(ops, payload["response_url"].rsplit("/", 1)[-1])["text"]
    assert "button" in stale.lower()
    # From the Home tab (no response_url) it is said in a modal of its own.
    click_in_home(ops, "../My Instance")
    (opened,) = wait_for(lambda: slack.calls("views.open"), timeout=10, message="a modal saying why")
    assert all_text(opened.params["view"]["blocks"]) == f"⚠️ {stale}"
    assert opened.params["view"]["title"]["text"] == "Stop deployment"
    assert not [r for r in gcore.requests if "/deployments/" in r.path]
    assert "No start or stop has been asked for yet." in told(ops, ops.command("audit"))["text"]


def test_a_stale_confirmation_has_a_neutral_title(ops: RunningBot, slack: FakeSlack) -> None:
    ops.command("stop my-instance")
    stale = {**confirmation(slack), "private_metadata": '{"action":"start"}'}
    answer = submit(ops, stale)
    assert answer["response_action"] == "update" and answer["view"]["title"]["text"] == "Stop or start"


def test_a_confirmation_submitted_by_someone_else_is_authorized_again(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    ops.command("stop my-instance")
    answer = submit(ops, confirmation(slack), user_id=BOB)
    assert answer["response_action"] == "update"
    assert "Only operators" in all_text(answer["view"]["blocks"])
    assert posts(gcore, STOP_PATH) == 0


def test_a_member_of_the_operator_group_may_act(ops: RunningBot, gcore: FakeGcore, slack: FakeSlack) -> None:
    response_id = ops.command("stop my-instance", user_id=CAROL)
    assert submit(ops, confirmation(slack), user_id=CAROL) == {"response_action": "clear"}
    assert told(ops, response_id)["text"] == f"<@{CAROL}> stopped *my-instance*"
    assert posts(gcore, STOP_PATH) == 1
    assert slack.calls("usergroups.users.list")[0].params["usergroup"] == GROUP


def test_a_second_stop_soon_after_anothers_is_refused_naming_who(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    ops.command("stop my-instance")
    first = confirmation(slack)
    gcore.set_status(PROJECT, "my-instance", "ACTIVE")  # as if it was still serving when Carol looked
    ops.command("stop my-instance", user_id=CAROL)
    second = confirmation(slack, 2)
    assert submit(ops, first) == {"response_action": "clear"}
    answer = submit(ops, second, user_id=CAROL)
    assert answer["response_action"] == "update"
    assert f"<@{ALICE}> already stopped *my-instance*" in all_text(answer["view"]["blocks"])
    assert posts(gcore, STOP_PATH) == 1


def test_a_failed_stop_says_so_in_one_sentence_and_is_audited(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    ops.command("stop my-instance")
    gcore.fail_next(409, path=STOP_PATH, body={"message": "deployment is busy"})
    answer = submit(ops, confirmation(slack))
    assert answer["response_action"] == "update"
    text = all_text(answer["view"]["blocks"])
    assert text.startswith("Gcore did not stop *my-instance*: Gcore refused the request (HTTP 409)"), text
    # A 500 may come after Gcore acted: sent once, and the person is told to look before trying again.
    ops.command("stop my-instance")
    gcore.fail_next(500, path=STOP_PATH)
    text = all_text(submit(ops, confirmation(slack, 2))["view"]["blocks"])
    assert text.startswith("Gcore did not say whether it will stop *my-instance*"), text
    assert "`/inference status my-instance` shows whether it did" in text
    assert posts(gcore, STOP_PATH) == 2
    audit = all_text(told(ops, ops.command("audit my-instance"))["blocks"])
    assert "❓ unknown: Gcore's answer was lost (HTTP 500)" in audit
    assert "❌ failed: Gcore answered HTTP 409" in audit and "failed: Gcore answered HTTP 500" not in audit
    # Gcore may have stopped it: a second stop right away is refused, naming the one whose answer was lost.
    ops.command("stop my-instance", user_id=CAROL)
    answer = submit(ops, confirmation(slack, 3), user_id=CAROL)
    text = all_text(answer["view"]["blocks"])
    assert f"<@{ALICE}> asked Gcore to stop *my-instance*" in text and "its answer was lost" in text
    assert posts(gcore, STOP_PATH) == 2


def test_audit_lists_the_actions_and_the_refusals_newest_first(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    ops.command("stop my-instance", user_id=BOB)
    confirmation(slack)  # saying he may not
    ops.command("stop my-instance")
    submit(ops, confirmation(slack, 2))
    lines = [all_text([b]) for b in told(ops, ops.command("audit"))["blocks"] if b["type"] == "section"]
    assert len(lines) >= 2
    assert f"<@{ALICE}> · stop *my-instance* (project 1) · ✅ done" in lines[0]
    assert f"<@{BOB}> · stop *my-instance* (project 1) · 🚫 refused: not an operator" in lines[1]


def test_a_guests_stop_is_refused_before_any_check_and_still_audited(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    # Alice's id, from another organization: the Slack Connect rule refuses before the operator rule.
    refused = told(ops, ops.command("stop my-instance", team_id="T0OTHER"))
    assert "another organization" in refused["text"]
    assert slack.calls("views.open") == [] and posts(gcore, STOP_PATH) == 0
    lines = [all_text([b]) for b in told(ops, ops.command("audit"))["blocks"] if b["type"] == "section"]
    assert len(lines) == 1 and "stop *my-instance* (project 1) · 🚫 refused" in lines[0]


def test_with_no_operator_set_acting_is_off_and_no_button_shows(
    bot: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    reply = told(bot, bot.command("stop my-instance"))
    assert "Starting and stopping deployments from Slack is off" in reply["text"]
    card = told(bot, bot.command("status my-instance"))
    labels = [e["text"]["text"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "Stop" not in labels and "Start" not in labels
    assert slack.calls("views.open") == []
    assert not [r for r in gcore.requests if r.method == "POST"]


@pytest.fixture
def operating_watcher(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[WatchBot]:
    yield from watch_bot(gcore, slack, tmp_path, process=False, extra={"OPERATOR_USER_IDS": ALICE})


def test_the_watcher_names_the_operator_who_stopped_it(operating_watcher: WatchBot) -> None:
    watcher, slack, gcore = operating_watcher, operating_watcher.slack, operating_watcher.gcore
    watcher.watch()
    gcore.record_action(PROJECT, "my-instance", "update")  # Gcore's log names the API key's owner
    watcher.bot.command("stop my-instance")
    assert submit(watcher.bot, confirmation(slack)) == {"response_action": "clear"}
    (parent,) = watcher.wait_alerts(1)
    named = watcher.wait_edit(parent["ts"], f"stopped by <@{ALICE}> in Slack")
    assert "alice@example.com" not in all_text(named["blocks"])


def test_a_problem_alert_offers_stop_to_operators(operating_watcher: WatchBot) -> None:
    watcher, gcore = operating_watcher, operating_watcher.gcore
    watcher.watch()
    failing = [
        {
            "region_id": 1,
            "deploy_status": {"ready": 0, "total": 3},
            "scale": {"min": 1, "max": 3},
            "error_message": "ImagePullBackOff",
        }
    ]
    gcore.update(PROJECT, "my-instance", status="PARTIALLYDEPLOYED", containers=failing)
    (alert,) = watcher.wait_alerts(1)
    buttons = [e for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]]
    stop = next(b for b in buttons if b["action_id"] == "deployment.stop")
    assert json.loads(stop["value"]) == {"project_id": PROJECT, "name": "my-instance"}


def test_from_the_home_tab_the_operator_hears_in_a_direct_message(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    click_in_home(ops, "my-instance")
    assert submit(ops, confirmation(slack)) == {"response_action": "clear"}
    wait_for(lambda: slack.messages(ALICE), timeout=10, message="a direct message")
    assert slack.messages(ALICE)[0]["text"] == f"<@{ALICE}> stopped *my-instance*"
    assert posts(gcore, STOP_PATH) == 1


def test_a_slow_gcore_closes_the_confirmation_once_it_answers(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What happens past the submission's wait for Gcore is tested here, not how long that wait is; Gcore
    # answers a second after it, as with the product's 2 s wait and a 3 s delay.
    monkeypatch.setattr(operations, "ANSWER_WITHIN_SECONDS", 0.25)
    response_id = ops.command("stop my-instance")
    view = confirmation(slack)
    gcore.set_delay(1.25, path=STOP_PATH)
    answer = submit(ops, view)
    assert "it has not answered yet" in all_text(answer["view"]["blocks"])
    late = confirmation(slack, 2)
    assert late["id"] == view["id"] and "Done:" in all_text(late["blocks"])
    assert told(ops, response_id)["text"] == f"<@{ALICE}> stopped *my-instance*"
    assert posts(gcore, STOP_PATH) == 1


def test_a_stop_in_a_project_the_bot_does_not_serve_is_refused_with_no_gcore_call(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    reply = told(ops, ops.command("stop my-instance --project 999"))
    assert "Project 999 is not one this bot serves" in reply["text"]
    assert slack.calls("views.open") == []
    assert not [r for r in gcore.requests if "/999" in r.path]


def test_stop_start_and_stop_again_within_two_minutes_each_go_ahead(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    for count, command in enumerate(["stop", "start", "stop"], start=1):
        ops.command(f"{command} my-instance")
        assert submit(ops, confirmation(slack, count)) == {"response_action": "clear"}, command
    assert (posts(gcore, STOP_PATH), posts(gcore, START_PATH)) == (2, 1)
    assert (gcore.get(PROJECT, "my-instance") or {}).get("status") == "DISABLED"


def test_two_confirmations_submitted_at_once_post_once(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    ops.command("stop my-instance")
    ops.command("stop my-instance", user_id=CAROL)
    first, second = confirmation(slack), confirmation(slack, 2)
    # Gcore slow: both submissions are in flight together, past any check made before the claim.
    gcore.set_delay(1, path=STOP_PATH)
    answers: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda v=view, u=user: answers.append(submit(ops, v, user_id=u)))
        for view, user in ((first, ALICE), (second, CAROL))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(answers) == 2
    assert posts(gcore, STOP_PATH) == 1
    refused = [
        a
        for a in answers
        if a.get("response_action") == "update" and "did not ask Gcore again" in all_text(a["view"]["blocks"])
    ]
    assert len(refused) == 1


def test_the_same_stop_click_delivered_twice_leads_to_one_post(
    ops: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    response_url = slack.new_response_url()
    value = json.dumps({"project_id": PROJECT, "name": "my-instance"})
    payload = block_action("deployment.stop", value, response_url=response_url, user_id=ALICE, text="Stop")
    body = interactive_body(payload)
    assert ops.post_signed(body).status_code == 200
    assert ops.post_signed(body).status_code == 200
    views = [confirmation(slack), confirmation(slack, 2)]
    answers = [submit(ops, view) for view in views]
    assert answers[0] == {"response_action": "clear"}
    assert "already stopped *my-instance*" in all_text(answers[1]["view"]["blocks"])
    assert posts(gcore, STOP_PATH) == 1
    assert len(slack.responses(response_url.rsplit("/", 1)[-1])) == 1


def test_the_watcher_names_whoever_acted_last_not_an_earlier_stop_in_slack(
    operating_watcher: WatchBot,
) -> None:
    watcher, slack, gcore = operating_watcher, operating_watcher.slack, operating_watcher.gcore
    watcher.watch()
    # The watcher's next poll is held while Alice stops it in Slack and Bob starts it again in Gcore (which
    # takes a tenth of the hold on a loaded machine).
    hold = 1.0
    gcore.set_delay(hold, path=LIST_PATH)
    polled = sum(1 for r in gcore.requests if r.path == LIST_PATH)
    held = wait_for(
        lambda: [r for r in gcore.requests if r.path == LIST_PATH][polled:], timeout=10, message="a poll"
    )[0]
    watcher.bot.command("stop my-instance")
    assert submit(watcher.bot, confirmation(slack)) == {"response_action": "clear"}
    gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    gcore.record_action(PROJECT, "my-instance", "start", email="bob@example.com")
    gcore.set_delay(0, path=LIST_PATH)
    assert time.monotonic() - held.at < hold, "the held poll may have answered before Bob's start"
    (parent,) = watcher.wait_alerts(1)
    named = watcher.wait_edit(parent["ts"], "start by bob@example.com")
    assert f"<@{ALICE}>" not in all_text(named["blocks"])
