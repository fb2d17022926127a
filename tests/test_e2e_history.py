"""``/inference history`` and the History button through the real bot: episodes the watcher recorded, newest
first with how long each took; an unwatched deployment offered to watch; a bad name refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.actions import ActionId, DeploymentRef
from tests.blockkit import all_text, limit_problems
from tests.bots import PROJECT
from tests.fakes.gcore import FakeGcore, seed_deployment
from tests.fakes.slack import FakeSlack
from tests.test_e2e_http import button
from tests.test_e2e_watch import CHANNEL, WatchBot, failing_containers, watch_bot
from tests.test_e2e_watch import watcher as watcher  # the fixture: a watching bot in this process

# Changes further apart than this are separate episodes (by default ten minutes must pass).
FLAP_WINDOW = 1


@pytest.fixture
def short_flap_watcher(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[WatchBot]:
    """A watching bot in this process whose changes a second apart are separate episodes."""
    yield from watch_bot(
        gcore, slack, tmp_path, process=False, extra={"FLAP_WINDOW_SECONDS": str(FLAP_WINDOW)}
    )


def two_episodes_and_a_nap(watcher: WatchBot) -> list[dict[str, Any]]:
    """A rollout, a nap, then a failed rollout that recovers; the channel's top-level alerts."""
    watcher.watch()
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (rollout,) = watcher.wait_alerts(1)
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.wait_edit(rollout["ts"], "✅ rolled out in")
    rolled_out = time.monotonic()  # the poll that saw it end was before
    watcher.polls(2)
    watcher.gcore.set_status(PROJECT, "my-instance", "PENDING")
    watcher.wait_alerts(2)  # the day's sleep digest
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.polls(2)
    # Time itself is the condition: the next change comes past the flap window after the rollout's end (a
    # nap is no change that counts), so it starts a new episode.
    time.sleep(max(0.0, rolled_out + FLAP_WINDOW - time.monotonic()))
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    incident = watcher.wait_alerts(3)[2]
    watcher.gcore.update(
        PROJECT, "my-instance", status="PARTIALLYDEPLOYED", containers=failing_containers("OOMKilled")
    )
    watcher.polls(2)
    watcher.gcore.update(PROJECT, "my-instance", status="ACTIVE", containers=seed_deployment()["containers"])
    watcher.wait_edit(incident["ts"], "✅ recovered after")
    return watcher.alerts()


def test_history_lists_the_episodes_newest_first_with_their_durations(short_flap_watcher: WatchBot) -> None:
    watcher = short_flap_watcher
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
