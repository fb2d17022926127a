"""``/inference history`` and the History button through the real bot: episodes the watcher recorded, newest
first with how long each took; an unwatched deployment offered to watch; a bad name refused."""

from __future__ import annotations

from typing import Any

from bot.actions import ActionId, DeploymentRef
from tests.blockkit import all_text, limit_problems
from tests.conftest import PROJECT
from tests.fakes.gcore import seed_deployment
from tests.test_e2e_http import button
from tests.test_e2e_watch import CHANNEL, WatchBot, failing_containers
from tests.test_e2e_watch import watcher as watcher  # the fixture: a watching bot in this process


def two_episodes_and_a_nap(watcher: WatchBot) -> list[dict[str, Any]]:
    """A rollout, a nap, then a failed rollout that recovers; the channel's top-level alerts."""
    # Changes a second apart are separate episodes (by default ten minutes must pass).
    watcher.env["FLAP_WINDOW_SECONDS"] = "1"
    watcher.restart()
    watcher.watch()
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (rollout,) = watcher.wait_alerts(1)
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.wait_edit(rollout["ts"], "✅ rolled out in")
    watcher.polls(2)
    watcher.gcore.set_status(PROJECT, "my-instance", "PENDING")
    watcher.wait_alerts(2)  # the day's sleep digest
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.polls(10)  # at least 1.8 s: the next change is past the flap window, so a new episode
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    incident = watcher.wait_alerts(3)[2]
    watcher.gcore.update(
        PROJECT, "my-instance", status="PARTIALLYDEPLOYED", containers=failing_containers("OOMKilled")
    )
    watcher.polls(2)
    watcher.gcore.update(PROJECT, "my-instance", status="ACTIVE", containers=seed_deployment()["containers"])
    watcher.wait_edit(incident["ts"], "✅ recovered after")
    return watcher.alerts()


def test_history_lists_the_episodes_newest_first_with_their_durations(watcher: WatchBot) -> None:
    watcher.gcore.put(seed_deployment(name="other-one"))
    alerts = two_episodes_and_a_nap(watcher)
    assert len(alerts) == 3

    reply = watcher.command("history my-instance")
    assert reply["response_type"] == "ephemeral" and not limit_problems(reply["blocks"], reply["text"])
    text = all_text(reply["blocks"])
    assert "History of *my-instance* in project 1" in text
    assert text.index("✅ recovered after") < text.index("✅ rolled out in")  # newest first
    assert "OOMKilled" in text and "🔵 Deploying → 🟡 Partially deployed" in text
    assert "💤 Scaled to zero 1×" in text
    assert "Watch in this channel" not in text  # this channel watches it

    unwatched = watcher.command("history other-one")
    assert unwatched["response_type"] == "ephemeral"
    assert unwatched["text"] == (
        "Nobody in this channel watches `other-one` in project 1, and I have no history of it."
    )
    watch = button(unwatched["blocks"], ActionId.WATCH_DEPLOYMENT)
    watched = watcher.bot.reply(watcher.bot.click(watch), index=1).body
    assert watched["response_type"] == "in_channel" and "other-one" in watched["text"]

    refused = watcher.command("history My_Instance")
    assert refused["response_type"] == "ephemeral"
    assert "`My_Instance` cannot be a deployment name" in refused["text"]
    assert "Try `/inference history my-instance`" in watcher.command("history")["text"]


def test_history_button_answers_the_clicker_alone_and_leaves_the_message(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (posted,) = watcher.wait_alerts(1)
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.wait_edit(posted["ts"], "✅ rolled out in")
    watcher.polls(2)
    alert = watcher.slack.message(CHANNEL, posted["ts"])
    assert alert is not None
    # The engineer puts the button on the card and the timeline; the click is the same wherever it is.
    ref = DeploymentRef(project_id=PROJECT, name="my-instance").model_dump_json()
    history = {"type": "button", "action_id": ActionId.SHOW_HISTORY, "value": ref}
    updates_before = len(watcher.slack.calls("chat.update"))

    reply = watcher.bot.reply(watcher.bot.click(history, message=alert)).body
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    text = all_text(reply["blocks"])
    assert "History of *my-instance*" in text and "✅ rolled out in" in text
    assert "🟢 Active → 🔵 Deploying" in text and not limit_problems(reply["blocks"], reply["text"])
    assert len(watcher.slack.calls("chat.update")) == updates_before
    assert watcher.slack.message(CHANNEL, alert["ts"]) == alert
