"""What people read about subscriptions: who `--notify` mentions, and why a channel's alerts are paused."""

from __future__ import annotations

import json

import pytest

from bot.watch.subscriptions import SubscribeOutcome
from formatters.alerts import render_paused_notice
from formatters.subscriptions import render_watch_result, render_watching, watch_replies
from tests.blockkit import all_text, limit_problems
from tests.test_alert_formatters import subscription

OWNED = subscription(notify=("<!subteam^S0ONCALL>", "<@U0BOB>"))


@pytest.mark.parametrize(
    ("reason", "advice"),
    [
        (
            "is_archived",
            "the channel was archived. An archived channel can't run `/inference watch`: unarchive it and "
            "I'll resume them by myself within the hour, or watch from another channel.",
        ),
        (
            "not_in_channel",
            "I was removed from the channel. Invite me back there with `/invite @inference` (or the name your "
            "workspace gave the app) and I'll resume them by myself within the hour, or run `/inference watch` "
            "there to resume them at once.",
        ),
        (
            "channel_not_found",
            "the channel no longer exists or I can't see it. Watch from another channel with "
            "`/inference watch`; if it is a private channel that still exists, invite me back there with "
            "`/invite @inference` (or the name your workspace gave the app) and I'll resume them by myself "
            "within the hour.",
        ),
        (
            "<!channel>",
            "`&lt;!channel&gt;`. I'll check every hour and resume them by myself once I can post there; "
            "`/inference watch` there resumes them at once, and `/inference watching` lists them.",
        ),
    ],
)
def test_paused_notice_says_why_and_what_can_be_done(reason: str, advice: str) -> None:
    notice = render_paused_notice("C0OPS", [subscription()], reason, recheck_seconds=3600)
    assert notice.text == f"I paused alerts for `my-instance` in <#C0OPS>: {advice}"


def test_paused_notice_tells_the_recheck_period() -> None:
    notice = render_paused_notice("C0OPS", [subscription()], "is_archived", recheck_seconds=600)
    assert "resume them by myself within 10 min" in notice.text


def test_watch_replies_count_owners_in_the_channel_and_name_them_to_the_asker() -> None:
    created = watch_replies(OWNED, SubscribeOutcome.CREATED, "U0ALICE")
    assert [r["response_type"] for r in created] == ["in_channel", "ephemeral"]
    assert "mention 1 person and 1 user group." in created[0]["text"]
    assert "U0BOB" not in json.dumps(created[0]) and "S0ONCALL" not in json.dumps(created[0])
    assert "will mention <!subteam^S0ONCALL>, <@U0BOB>." in created[1]["text"]
    unchanged = watch_replies(OWNED, SubscribeOutcome.UNCHANGED, "U0ALICE")
    assert [r["response_type"] for r in unchanged] == ["ephemeral"]
    assert "mention <!subteam^S0ONCALL>, <@U0BOB>. Nothing changed." in unchanged[0]["text"]
    # No one to name: one reply only.
    assert len(watch_replies(subscription(), SubscribeOutcome.CREATED, "U0ALICE")) == 1
    groups = subscription(notify=("<!subteam^S0A>", "<!subteam^S0B>"))
    assert "mention 2 user groups." in render_watch_result(groups, SubscribeOutcome.RESUMED, "U0A").text
    people = subscription(notify=("<@U0A>", "<@U0B>"))
    assert "mention 2 people." in render_watch_result(people, SubscribeOutcome.UPDATED, "U0A").text
    cleared = render_watch_result(subscription(), SubscribeOutcome.UPDATED, "U0ALICE")
    assert cleared.text.endswith("No one is mentioned.")


def test_watching_writes_only_real_mentions_live() -> None:
    # Only what --notify stores is ever live; anything else that reached the database is escaped.
    odd = subscription(notify=("<@U0BOB>", "<!channel>", "@here"))
    text = all_text(render_watching([odd]).blocks)
    assert "notifies <@U0BOB>, `&lt;!channel&gt;`, `@\u2060here` of problems" in text


def test_watching_stays_within_slack_limits_with_many_owners() -> None:
    many = [
        subscription(id=i, target=f"deployment-{i:03}", notify=tuple(f"<@U0{i:03}{j:02}>" for j in range(20)))
        for i in range(1, 61)
    ]
    listing = render_watching(many)
    assert not limit_problems(listing.blocks, listing.text)
    assert listing.blocks[-1]["type"] == "context" and "more" in all_text(listing.blocks[-1:])
