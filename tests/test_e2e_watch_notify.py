"""``watch --notify``, end to end: the real bot in-process, typed at through the Slack fake as Slack sends the
text with ``should_escape: true``, read back as the person who typed it and the channel see it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.blockkit import all_text
from tests.fakes.gcore import FakeGcore
from tests.fakes.slack import FakeSlack
from tests.test_e2e_watch import WatchBot, watch_bot

WATCHED = "`my-instance` (project 1)"
OPTIONS = "every status change, one message per rollout, steps in its thread"


@pytest.fixture
def watcher(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[WatchBot]:
    """A watching bot in this process."""
    yield from watch_bot(gcore, slack, tmp_path, process=False)


def listing(watcher: WatchBot) -> str:
    reply = watcher.command("watching")
    assert reply["response_type"] == "ephemeral"  # which is why its mentions may be live: see render_watching
    return all_text(reply["blocks"])


def test_watch_notify_is_stored_shown_kept_replaced_and_cleared(watcher: WatchBot) -> None:
    response_id = watcher.bot.command("watch my-instance --notify <!subteam^S0ONCALL|@oncall> <@U0BOB|bob>")
    said = watcher.bot.reply(response_id).body
    assert said["response_type"] == "in_channel"
    assert said["text"] == (
        f"👀 <@U0ALICE> is watching {WATCHED} in this channel: {OPTIONS}. Problems and their recoveries "
        "mention 1 person and 1 user group. `/inference unwatch` stops it."
    )
    # The channel hears how many, not who: a mention in a channel message would wake them now.
    assert "U0BOB" not in json.dumps(said) and "S0ONCALL" not in json.dumps(said)
    note = watcher.bot.reply(response_id, index=1).body
    assert note["response_type"] == "ephemeral"
    assert note["text"] == (
        f"Problems and their recoveries of {WATCHED} will mention <!subteam^S0ONCALL>, <@U0BOB>. "
        "Only you see this note, so it notified no one."
    )
    notifies = "notifies <!subteam^S0ONCALL>, <@U0BOB> of problems and their recoveries"
    assert notifies in listing(watcher)

    # Without --notify, the list stays, whether the options change or not.
    again = watcher.command("watch my-instance")
    assert again["response_type"] == "ephemeral"
    assert again["text"] == (
        f"This channel already watches {WATCHED}: {OPTIONS}. Problems and their recoveries mention "
        "<!subteam^S0ONCALL>, <@U0BOB>. Nothing changed."
    )
    flat = watcher.command("watch my-instance --flat")
    assert "changed alerts here" in flat["text"] and "mention 1 person and 1 user group" in flat["text"]
    assert notifies in listing(watcher)

    # With --notify, the list is replaced.
    replaced = watcher.command("watch my-instance --flat --notify <@U0CAROL|carol>")
    assert replaced["response_type"] == "in_channel"
    assert replaced["text"].endswith("Problems and their recoveries mention 1 person.")
    shown = listing(watcher)
    assert "notifies <@U0CAROL> of problems" in shown and "U0BOB" not in shown

    cleared = watcher.command("watch my-instance --flat --notify none")
    assert cleared["response_type"] == "in_channel"
    assert cleared["text"].endswith("No one is mentioned.")
    assert "notifies" not in listing(watcher)


def test_watch_notify_refuses_a_broadcast_without_sending_one(watcher: WatchBot) -> None:
    watcher.command("watch my-instance --notify <@U0BOB|bob>")
    for text in (
        "watch my-instance --notify <!channel>",
        "watch my-instance --notify <@U0CAROL> <!here|here>",
    ):
        refused = watcher.command(text)
        assert refused["response_type"] == "ephemeral"
        assert refused["text"] == (
            "Alerts can't notify a whole channel: `--notify` takes people and user groups, "
            "not @\u2060channel, @\u2060here or @\u2060everyone."
        )
        sent = json.dumps(refused, ensure_ascii=False)
        assert "<!" not in sent and "&lt;!" not in sent and "@channel" not in sent and "@here" not in sent
    plain = watcher.command("watch my-instance --notify @alice")
    assert plain["text"].startswith("Slack did not send `@alice` as a mention")
    assert "pick each person or user group from Slack's autocomplete" in plain["text"]
    # Nothing refused was stored: Bob is still the one problems mention.
    assert "notifies <@U0BOB> of problems" in listing(watcher)
