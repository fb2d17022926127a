"""Alerts as a person scrolling the channel reads them: the story each episode's message keeps, who was
woken and when, and what the buttons on an alert do, through the real bot against the Slack fake."""

from __future__ import annotations

from typing import Any

from bot.actions import ActionId
from tests.blockkit import all_text, limit_problems
from tests.bots import PROJECT
from tests.fakes.gcore import seed_deployment
from tests.test_e2e_http import button
from tests.test_e2e_watch import CHANNEL, WatchBot, failing_containers
from tests.test_e2e_watch import watcher as watcher  # the fixture: a watching bot in this process

ONCALL = "<!subteam^S0ONCALL>"


def mentions_oncall(message: dict[str, Any]) -> bool:
    return ONCALL in message.get("text", "") or ONCALL in all_text(message.get("blocks", []))


def posts(watcher: WatchBot) -> list[dict[str, Any]]:
    """What the bot posted to the channel, as it first sent each (edits notify no one)."""
    return [c.params for c in watcher.slack.calls("chat.postMessage") if c.params.get("channel") == CHANNEL]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def test_a_failed_rollout_is_one_timeline_and_only_its_problem_wakes_the_owners(watcher: WatchBot) -> None:
    watcher.watch("watch my-instance --notify <!subteam^S0ONCALL|@oncall>")
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (parent,) = watcher.wait_alerts(1)
    watcher.gcore.update(
        PROJECT, "my-instance", status="PARTIALLYDEPLOYED", containers=failing_containers("OOMKilled")
    )
    watcher.wait_replies(parent["ts"], 1)
    watcher.gcore.update(PROJECT, "my-instance", status="ACTIVE", containers=seed_deployment()["containers"])
    error, recovery = watcher.wait_replies(parent["ts"], 2)
    final = watcher.wait_edit(parent["ts"], "✅ recovered after")

    # Scrolling the channel: one message, whose text holds every step and how it ended.
    story = all_text(final["blocks"])
    for step in [
        "🟢 Active → 🔵 Deploying",
        "🔵 Deploying → 🟡 Partially deployed",
        "OOMKilled",
        "🟡 Partially deployed → 🟢 Active",
    ]:
        assert step in story
    assert len(watcher.alerts()) == 1 and not limit_problems(final["blocks"], final["text"])
    # Who was woken: the error and its recovery reached the channel as broadcast replies naming the group;
    # the routine start of the rollout named no one.
    assert (
        error["reply_broadcast"] is True
        and mentions_oncall(error)
        and "OOMKilled" in all_text(error["blocks"])
    )
    assert recovery["reply_broadcast"] is True and mentions_oncall(recovery)
    first_post = posts(watcher)[0]
    assert not mentions_oncall(first_post) and "🔵 Deploying" in all_text(first_post["blocks"])
    # The timeline carries the buttons; the replies do not.
    assert buttons(final) and not buttons(error) and not buttons(recovery)


def test_eight_flips_in_ten_minutes_are_one_top_level_message_that_says_flapping(watcher: WatchBot) -> None:
    watcher.watch("watch my-instance --notify <!subteam^S0ONCALL|@oncall>")
    for status in ["PARTIALLYDEPLOYED", "ACTIVE"] * 4:
        watcher.gcore.set_status(PROJECT, "my-instance", status)
        watcher.polls(2)
    (message,) = watcher.wait_alerts(1)
    final = watcher.wait_edit(message["ts"], "8 changes")
    assert "🔁 *my-instance* is flapping" in all_text(final["blocks"]) and len(watcher.alerts()) == 1
    # No flip was told at the top level, and only the start of flapping was broadcast.
    broadcast = [r for r in watcher.replies(message["ts"]) if r.get("reply_broadcast")]
    assert ["is flapping" in all_text(r["blocks"]) for r in broadcast] == [True]


def test_three_naps_are_one_message_a_day(watcher: WatchBot) -> None:
    watcher.watch("watch my-instance --notify <!subteam^S0ONCALL|@oncall>")
    for status in ["PENDING", "ACTIVE"] * 3:
        watcher.gcore.set_status(PROJECT, "my-instance", status)
        watcher.polls(2)
    (digest,) = watcher.wait_alerts(1)
    final = watcher.wait_edit(digest["ts"], "slept 3× today")
    assert "now ☀️ awake" in all_text(final["blocks"]) and len(watcher.alerts()) == 1
    assert not any(mentions_oncall(post) for post in posts(watcher))


def test_card_on_an_alert_answers_the_clicker_alone_and_leaves_the_alert(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (alert,) = watcher.wait_alerts(1)
    watcher.polls(2)
    updates_before = len(watcher.slack.calls("chat.update"))
    reply = watcher.bot.reply(
        watcher.bot.click(button(alert["blocks"], ActionId.ALERT_REFRESH), message=alert)
    )
    assert reply.body["response_type"] == "ephemeral" and reply.body["replace_original"] is False
    assert "my-instance" in all_text(reply.body["blocks"])
    assert len(watcher.slack.calls("chat.update")) == updates_before
    assert watcher.slack.message(CHANNEL, alert["ts"]) == alert


def test_unwatch_asks_first_and_under_all_offers_to_mute_one_deployment(watcher: WatchBot) -> None:
    watcher.gcore.put(seed_deployment(name="other-one"))
    watcher.watch("watch --all")
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (alert,) = watcher.wait_alerts(1)
    unwatch = button(alert["blocks"], ActionId.UNWATCH_DEPLOYMENT)
    assert unwatch["confirm"]["style"] == "danger"
    choice = watcher.bot.reply(watcher.bot.click(unwatch, message=alert)).body
    assert choice["response_type"] == "ephemeral" and "watches all of project 1" in choice["text"]
    assert all("confirm" in b for b in buttons(choice))
    said = watcher.bot.reply(watcher.bot.click(button(choice["blocks"], ActionId.MUTE_DEPLOYMENT))).body
    assert said["response_type"] == "in_channel" and "muted alerts for `my-instance`" in said["text"]
    # Muted: the deployment's next change is not told; the project's others still are.
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.gcore.set_status(PROJECT, "other-one", "DEPLOYING")
    alerts = watcher.wait_alerts(2)
    assert "other-one" in all_text(alerts[1]["blocks"])
    watcher.polls(2)
    assert len(watcher.alerts()) == 2 and len(watcher.replies(alert["ts"])) == 0
    for message in watcher.slack.messages(CHANNEL):
        assert all("confirm" in b for b in buttons(message) if b["action_id"].startswith("unwatch"))


def test_the_card_says_since_when_a_watched_deployment_has_its_status(watcher: WatchBot) -> None:
    watcher.watch()
    assert "since" not in all_text(watcher.command("status my-instance")["blocks"])  # never seen to change
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    watcher.wait_alerts(1)
    first_line = all_text(watcher.command("status my-instance")["blocks"]).split("\n")[1]
    assert "DEPLOYING" in first_line and "since <!date^" in first_line
