"""Who may see and do what, end to end: the real bot over loopback HTTP against the Gcore and Slack fakes.

Each refusal is checked where a person sees it (the one sentence naming the setting) and where it matters
(the Gcore fake's request log has nothing for the refused project; subscriptions stay as they were).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.actions import ActionId, CardRef, DeploymentRef, ListPage, SubscriptionRef
from tests.blockkit import all_text, limit_problems
from tests.bots import PROJECT, RunningBot, assert_no_secrets, fresh_fakes, start_bot
from tests.fakes.gcore import FakeGcore, seed_deployment
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import block_action, interactive_body
from tests.test_e2e_http import button
from tests.test_e2e_watch import WatchBot, watch_bot

OTHER_PROJECT = 999
REFUSED_PROJECT = (
    f"Project {OTHER_PROJECT} is not one this bot serves: it shows, watches and acts on only the projects in "
    "`ALLOWED_PROJECT_IDS`; ask whoever runs the bot to add it."
)
EXTERNAL = (
    "You are in another organization than the one that runs this bot, so it takes no commands or clicks "
    "from you here; ask whoever runs the bot if it should (`ALLOW_EXTERNAL_USERS=true`)."
)
CHANNEL_REFUSED = (
    "I don't answer in this channel: the bot serves only the channels in `ALLOWED_CHANNEL_IDS`; use one of "
    "those, or ask whoever runs the bot to add this one."
)
OTHER_TEAM = {"team_id": "T0OTHER"}
OTHER_GRID = {"enterprise_id": "E0OTHER"}
LOGS_PATH = f"/cloud/v3/inference/{PROJECT}/deployments/my-instance/logs"
OTHER_LIST_PATH = f"/cloud/v3/inference/{OTHER_PROJECT}/deployments"


def asked_about(gcore: FakeGcore, project_id: int) -> list[str]:
    """Every request the Gcore fake received that concerns ``project_id``."""
    return [
        r.path
        for r in gcore.requests
        if f"/{project_id}/" in f"{r.path}/" or r.query.get("project_id") == str(project_id)
    ]


def value(model: CardRef | DeploymentRef | ListPage | SubscriptionRef) -> str:
    return model.model_dump_json()


@pytest.fixture
def fresh(gcore: FakeGcore, slack: FakeSlack) -> None:
    """The fakes as a new bot should find them: the seed deployment in project 1 and in project 999."""
    fresh_fakes(gcore, slack)
    gcore.put(seed_deployment(project_id=OTHER_PROJECT))


@pytest.fixture
def bot_with(
    fresh: None, gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> Iterator[Callable[..., RunningBot]]:
    """Starts a bot with the given settings (stopped, and checked for secrets, after the test)."""
    started: list[RunningBot] = []

    def start(**env: str) -> RunningBot:
        started.append(start_bot(gcore, slack, tmp_path, **env))
        return started[-1]

    yield start
    for bot in started:
        bot.stop()
        sent = [c.params for c in slack.calls()] + [p.body for p in slack.responses()]
        assert_no_secrets(json.dumps(sent), bot.log())


def refusal(bot: RunningBot, response_id: str) -> str:
    """The one ephemeral sentence a refused request got."""
    body = bot.reply(response_id).body
    assert body["response_type"] == "ephemeral" and body.get("replace_original") is False, body
    assert body["blocks"] == [{"type": "section", "text": {"type": "mrkdwn", "text": f"⚠️ {body['text']}"}}]
    return str(body["text"])


# -- projects ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "status my-instance --project 999",
        "list project=999",
        "watch my-instance --project 999",
        "watch --all --project 999",
        "unwatch my-instance --project 999",
        "history my-instance --project 999",
        "logs my-instance --project 999",
    ],
)
def test_a_project_outside_allowed_project_ids_is_refused_without_asking_gcore(
    bot: RunningBot, gcore: FakeGcore, slack: FakeSlack, text: str
) -> None:
    gcore.put(seed_deployment(project_id=OTHER_PROJECT))
    assert refusal(bot, bot.command(text)) == REFUSED_PROJECT
    assert asked_about(gcore, OTHER_PROJECT) == []
    assert slack.calls("chat.postMessage") == [] and slack.calls("conversations.join") == []


# Every button whose value names a project, with that project tampered to 999.
TAMPERED = [
    (ActionId.REFRESH, value(CardRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.SHARE, value(CardRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.DETAILS, value(CardRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.SHOW_CARD, value(DeploymentRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.LIST_NEXT, value(ListPage(project_id=OTHER_PROJECT, page=1))),
    (ActionId.LIST_PREVIOUS, value(ListPage(project_id=OTHER_PROJECT, page=0))),
    (ActionId.WATCH_DEPLOYMENT, value(DeploymentRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.UNWATCH_DEPLOYMENT, value(DeploymentRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.MUTE_DEPLOYMENT, value(DeploymentRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.UNWATCH_PROJECT, value(DeploymentRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.ALERT_REFRESH, value(DeploymentRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.SHOW_LOGS, value(DeploymentRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.SHOW_HISTORY, value(DeploymentRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.STOP_DEPLOYMENT, value(DeploymentRef(project_id=OTHER_PROJECT, name="my-instance"))),
    (ActionId.START_DEPLOYMENT, value(DeploymentRef(project_id=OTHER_PROJECT, name="my-instance"))),
]


@pytest.mark.parametrize(("action_id", "tampered"), TAMPERED, ids=[str(a) for a, _ in TAMPERED])
def test_a_tampered_button_naming_another_project_is_refused_without_asking_gcore(
    bot: RunningBot, gcore: FakeGcore, slack: FakeSlack, action_id: ActionId, tampered: str
) -> None:
    gcore.put(seed_deployment(project_id=OTHER_PROJECT))
    assert refusal(bot, bot.click({"action_id": action_id, "value": tampered})) == REFUSED_PROJECT
    assert asked_about(gcore, OTHER_PROJECT) == []
    assert slack.calls("chat.postMessage") == [] and slack.calls("views.open") == []


def test_allowed_project_ids_lets_the_listed_projects_through(
    bot_with: Callable[..., RunningBot], gcore: FakeGcore
) -> None:
    own_bot = bot_with(ALLOWED_PROJECT_IDS="1,999")
    card = own_bot.reply(own_bot.command("status my-instance --project 999")).body
    assert card["blocks"][0]["text"]["text"] == "🟢 my-instance" and "Project 999" in all_text(card["blocks"])
    refreshed = own_bot.reply(own_bot.click(button(card["blocks"], ActionId.REFRESH))).body
    assert refreshed["replace_original"] is True and "Project 999" in all_text(refreshed["blocks"])
    logs = own_bot.reply(
        own_bot.click(
            {
                "action_id": ActionId.SHOW_LOGS,
                "value": value(DeploymentRef(project_id=999, name="my-instance")),
            }
        )
    ).body
    assert "Gcore has no log lines of my-instance to show" in logs["text"]
    assert "/cloud/v3/inference/999/deployments/my-instance/logs" in asked_about(gcore, OTHER_PROJECT)
    # The default project stays allowed.
    default = own_bot.reply(own_bot.command("status my-instance")).body
    assert default["blocks"][0]["text"]["text"] == "🟢 my-instance"


# -- Slack Connect -------------------------------------------------------------------------------------


@pytest.mark.parametrize("outsider", [OTHER_TEAM, OTHER_GRID], ids=["another team", "another enterprise"])
def test_a_person_of_another_organization_is_refused_commands_and_clicks(
    bot: RunningBot, gcore: FakeGcore, slack: FakeSlack, outsider: dict[str, str]
) -> None:
    gcore.clear_requests()
    assert refusal(bot, bot.command("status my-instance", **outsider)) == EXTERNAL
    refresh = {"action_id": ActionId.REFRESH, "value": value(CardRef(project_id=PROJECT, name="my-instance"))}
    assert refusal(bot, bot.click(refresh, **outsider)) == EXTERNAL
    watch = {
        "action_id": ActionId.WATCH_DEPLOYMENT,
        "value": value(DeploymentRef(project_id=PROJECT, name="my-instance")),
    }
    assert refusal(bot, bot.click(watch, **outsider)) == EXTERNAL
    assert gcore.requests == []
    assert slack.calls("chat.postMessage") == [] and slack.calls("conversations.info") == []
    # The same requests from the bot's own organization work.
    assert bot.reply(bot.command("status my-instance")).body["blocks"][0]["text"]["text"] == "🟢 my-instance"


def test_allow_external_users_lets_people_of_other_organizations_in(
    bot_with: Callable[..., RunningBot],
) -> None:
    own_bot = bot_with(ALLOW_EXTERNAL_USERS="true")
    for outsider in (OTHER_TEAM, OTHER_GRID):
        card = own_bot.reply(own_bot.command("status my-instance", **outsider)).body
        assert card["blocks"][0]["text"]["text"] == "🟢 my-instance"
        refreshed = own_bot.reply(own_bot.click(button(card["blocks"], ActionId.REFRESH), **outsider)).body
        assert refreshed["blocks"][0]["text"]["text"] == "🟢 my-instance"


@pytest.fixture
def watcher(fresh: None, gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[WatchBot]:
    yield from watch_bot(gcore, slack, tmp_path, process=False)


def test_alerts_in_a_shared_channel_still_arrive_while_guests_are_refused(
    watcher: WatchBot, gcore: FakeGcore
) -> None:
    watcher.watch()
    bot = watcher.bot
    assert refusal(bot, bot.command("unwatch my-instance", **OTHER_TEAM)) == EXTERNAL
    gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (alert,) = watcher.wait_alerts(1)
    logs = button(alert["blocks"], ActionId.SHOW_LOGS)
    assert refusal(bot, bot.click(logs, message=alert, **OTHER_TEAM)) == EXTERNAL
    assert [q for q in logs_asked(gcore) if q.get("limit") == "50"] == []  # the Logs button asked nothing
    # The channel still watches: the next change reaches it as well.
    gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.wait_edit(alert["ts"], "✅ rolled out")


# -- subscriptions belong to their channel -------------------------------------------------------------


def unwatch_buttons(bot: RunningBot, channel_id: str) -> list[dict[str, Any]]:
    listing = bot.reply(bot.command("watching", channel_id=channel_id)).body
    return [
        element
        for block in listing["blocks"]
        for element in [*block.get("elements", []), block.get("accessory") or {}]
        if element.get("action_id") == ActionId.UNWATCH_SUBSCRIPTION
    ]


def test_a_tampered_unwatch_naming_another_channels_subscription_changes_nothing(
    bot_with: Callable[..., RunningBot], slack: FakeSlack
) -> None:
    bot = bot_with()  # its own database: no subscription from another test
    assert (
        bot.reply(bot.command("watch my-instance", channel_id="C0ML")).body["response_type"] == "in_channel"
    )
    assert bot.reply(bot.command("watch --all", channel_id="C0ML")).body["response_type"] == "in_channel"
    theirs = unwatch_buttons(bot, "C0ML")
    assert len(theirs) == 2
    for other in theirs:
        # Clicked in C0OPS, whose own list is empty: that list is all it shows, and no one is told anything.
        mine = bot.reply(bot.click(other, channel_id="C0OPS")).body
        assert mine["replace_original"] is True and unwatch_buttons(bot, "C0OPS") == []
    mute = {
        "action_id": ActionId.MUTE_DEPLOYMENT,
        "value": value(DeploymentRef(project_id=PROJECT, name="my-instance")),
    }
    stop_all = {"action_id": ActionId.UNWATCH_PROJECT, "value": mute["value"]}
    for clicked in (mute, stop_all):
        said = bot.reply(bot.click(clicked, channel_id="C0OPS")).body
        assert said["response_type"] == "ephemeral", said
    assert [b["value"] for b in unwatch_buttons(bot, "C0ML")] == [b["value"] for b in theirs]
    assert slack.messages("C0OPS") == []
    theirs_now = all_text(bot.reply(bot.command("watching", channel_id="C0ML")).body["blocks"])
    assert "muted here" not in theirs_now


# -- channels ------------------------------------------------------------------------------------------


def test_allowed_channel_ids_refuses_other_channels_and_posts_in_none_of_them(
    bot_with: Callable[..., RunningBot], gcore: FakeGcore, slack: FakeSlack
) -> None:
    own_bot = bot_with(ALLOWED_CHANNEL_IDS="C0OPS")
    gcore.clear_requests()
    for text in ("status my-instance", "watch my-instance", "watch --all", "watching"):
        assert refusal(own_bot, own_bot.command(text, channel_id="C0ELSE")) == CHANNEL_REFUSED
    watch = {
        "action_id": ActionId.WATCH_DEPLOYMENT,
        "value": value(DeploymentRef(project_id=PROJECT, name="my-instance")),
    }
    assert refusal(own_bot, own_bot.click(watch, channel_id="C0ELSE")) == CHANNEL_REFUSED
    assert gcore.requests == []
    assert slack.messages("C0ELSE") == [] and slack.calls("conversations.join") == []
    assert unwatch_buttons(own_bot, "C0OPS") == []
    # The listed channel is served as before.
    assert own_bot.reply(own_bot.command("watch my-instance")).body["response_type"] == "in_channel"
    assert len(unwatch_buttons(own_bot, "C0OPS")) == 1


# -- the watcher ---------------------------------------------------------------------------------------


def test_a_project_no_longer_allowed_is_not_polled(
    fresh: None, gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    watcher = WatchBot(gcore, slack, tmp_path, {"ALLOWED_PROJECT_IDS": "1,999"})
    try:
        watcher.watch()
        assert watcher.command("watch my-instance --project 999")["response_type"] == "in_channel"
        wait_for(lambda: asked_about(gcore, OTHER_PROJECT).count(OTHER_LIST_PATH) >= 2, timeout=15)
        watcher.env["ALLOWED_PROJECT_IDS"] = "1"
        watcher.restart()
        gcore.clear_requests()
        watcher.polls(3)
        assert asked_about(gcore, OTHER_PROJECT) == []
        log = watcher.bot.log()
        assert log.count("project 999 is watched but not in ALLOWED_PROJECT_IDS; not polling it") == 1
    finally:
        watcher.bot.stop()


@pytest.mark.usefixtures("quick_gcore_retries")
def test_a_channel_no_longer_allowed_gets_no_alerts(
    fresh: None, gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    # Where the outage notice goes is tested here, not when: after the first failed poll.
    watcher = WatchBot(gcore, slack, tmp_path, {"GCORE_OUTAGE_ALERT_AFTER": "1"})
    try:
        watcher.watch()
        assert watcher.bot.reply(watcher.bot.command("watch my-instance", channel_id="C0ELSE")).body
        watcher.env["ALLOWED_CHANNEL_IDS"] = "C0OPS"
        watcher.restart()
        watcher.polls(2)
        gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
        assert "🟢 Active → 🔵 Deploying" in all_text(watcher.wait_alerts(1)[0]["blocks"])
        gcore.set_down(True)  # and the notice of an outage goes to the allowed channel alone
        wait_for(lambda: len(watcher.alerts()) == 2, timeout=15, message="the outage notice")
        assert watcher.alerts("C0ELSE") == [] and slack.messages("C0ELSE") == []
    finally:
        watcher.bot.stop()


# -- logs ----------------------------------------------------------------------------------------------


def log_entries(count: int) -> list[dict[str, Any]]:
    """``count`` lines a second apart, from two pods in two regions in turn."""
    return [
        {
            "message": f"line {n}",
            "pod": f"my-instance-pod-{'ab'[n % 2]}",
            "region_id": (1, 100)[n % 2],
            "time": f"2026-11-26T11:{n // 60:02d}:{n % 60:02d}Z",
        }
        for n in range(count)
    ]


def logs_asked(gcore: FakeGcore) -> list[dict[str, str]]:
    return [r.query for r in gcore.requests if r.path == LOGS_PATH]


def shown_lines(text: str, count: int) -> list[int]:
    return [n for n in range(count) if f" line {n}\n" in text]


def test_logs_shows_the_last_lines_newest_last_with_pod_and_time(bot: RunningBot, gcore: FakeGcore) -> None:
    gcore.set_logs(PROJECT, "my-instance", log_entries(150))
    reply = bot.reply(bot.command("logs my-instance")).body
    assert reply["response_type"] == "ephemeral"
    text = all_text(reply["blocks"])
    assert shown_lines(text, 150) == list(range(130, 150))
    assert (
        "11:02:29 [my-instance-pod-b] line 149\n" in text
        and "11:02:10 [my-instance-pod-a] line 130\n" in text
    )
    assert text.index("line 130") < text.index("line 149")
    assert "the last 20 log lines" in reply["text"] and not limit_problems(reply["blocks"], reply["text"])
    assert logs_asked(gcore)[-1] == {"limit": "20", "offset": "0", "order_by": "time.desc"}

    most = all_text(bot.reply(bot.command("logs my-instance --lines 100")).body["blocks"])
    assert shown_lines(most, 150) == list(range(50, 150))
    assert logs_asked(gcore)[-1]["limit"] == "100"
    one = all_text(bot.reply(bot.command("logs my-instance --lines=1")).body["blocks"])
    assert shown_lines(one, 150) == [149]


@pytest.mark.parametrize("lines", ["0", "101", "many", "1e2"])
def test_logs_lines_out_of_bounds_get_one_sentence(bot: RunningBot, gcore: FakeGcore, lines: str) -> None:
    gcore.clear_requests()
    reply = bot.reply(bot.command(f"logs my-instance --lines {lines}")).body
    assert reply["text"] == "`--lines` takes a whole number of lines from 1 to 100, as in `--lines 50`."
    assert logs_asked(gcore) == []


@pytest.mark.parametrize("region", ["Amsterdam", "amsterdam", "100"])
def test_logs_of_one_region_by_name_or_id(bot: RunningBot, gcore: FakeGcore, region: str) -> None:
    gcore.set_logs(PROJECT, "my-instance", log_entries(10))
    reply = bot.reply(bot.command(f"logs my-instance --region {region} --lines 3")).body
    text = all_text(reply["blocks"])
    assert shown_lines(text, 10) == [5, 7, 9] and "from Amsterdam" in reply["text"]
    assert logs_asked(gcore)[-1] == {"limit": "3", "offset": "0", "order_by": "time.desc", "region_id": "100"}
    # One pod: named once, not on every line.
    assert "[my-instance-pod-b]" not in text and "pod my-instance-pod-b" in text


def test_logs_of_an_unknown_region_name_the_known_ones(bot: RunningBot, gcore: FakeGcore) -> None:
    gcore.clear_requests()
    reply = bot.reply(bot.command("logs my-instance --region Paris")).body
    assert (
        reply["text"] == "I don't know the region `paris`; the regions are Amsterdam (100), Luxembourg-2 (1)."
    )
    assert logs_asked(gcore) == []


def test_logs_of_a_deployment_that_does_not_exist(bot: RunningBot) -> None:
    reply = bot.reply(bot.command("logs nope-nope")).body
    assert reply["text"] == "There is no deployment named `nope-nope` in project 1."


def test_logs_defuse_mentions_in_log_lines(bot: RunningBot, gcore: FakeGcore) -> None:
    gcore.set_logs(
        PROJECT,
        "my-instance",
        [
            {
                "message": "<!channel> ping <@U0BOSS> @here",
                "pod": "p",
                "region_id": 1,
                "time": "2026-11-26T11:00:00Z",
            }
        ],
    )
    reply = bot.reply(bot.command("logs my-instance")).body
    raw = json.dumps(reply)
    assert "<!channel>" not in raw and "<@U0BOSS>" not in raw
    assert "&lt;!channel&gt;" in all_text(reply["blocks"])


def test_logs_needs_a_deployment_name(bot: RunningBot) -> None:
    reply = bot.reply(bot.command("logs")).body
    assert "Which deployment?" in reply["text"] and "/inference logs my-instance" in reply["text"]


# -- where no message can carry the refusal ------------------------------------------------------------


def test_a_refused_view_submission_is_answered_in_its_modal(bot: RunningBot, gcore: FakeGcore) -> None:
    gcore.clear_requests()
    submission = {
        "type": "view_submission",
        "user": {"id": "U0GUEST", "team_id": "T0OTHER"},
        "team": {"id": "T0OTHER"},
        "api_app_id": "A0TEST",
        "trigger_id": "1337.42.view",
        "view": {"id": "V0CONFIRM", "type": "modal", "callback_id": "confirm", "state": {"values": {}}},
    }
    ack = bot.post_signed(interactive_body(submission))
    assert ack.status_code == 200
    answer = ack.json()
    assert answer["response_action"] == "update"
    assert all_text(answer["view"]["blocks"]) == f"⚠️ {EXTERNAL}"
    assert gcore.requests == []


def test_a_refused_click_without_a_response_url_opens_a_modal_saying_why(
    bot: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    gcore.clear_requests()
    refresh = value(CardRef(project_id=PROJECT, name="my-instance"))
    click = block_action(ActionId.REFRESH, refresh, response_url="", team_id="T0OTHER")
    # A click in the Home tab: its container is the view, with no channel and no response_url.
    click["container"] = {"type": "view", "view_id": "V0HOME"}
    del click["channel"], click["response_url"]
    ack = bot.post_signed(interactive_body(click))
    assert (ack.status_code, ack.text) == (200, "")
    (opened,) = wait_for(lambda: slack.calls("views.open") or None, timeout=10)
    assert opened.params["trigger_id"] == click["trigger_id"]
    assert f"⚠️ {EXTERNAL}" in all_text(opened.params["view"]["blocks"])
    assert gcore.requests == []
