"""The watcher end to end: ``python -m bot`` polling the Gcore fake and alerting the Slack fake.

The bot runs with a watch interval of a fraction of a second; each test waits for conditions with bounds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.actions import ActionId
from bot.gcore.retry import RetryPolicy
from bot.watch.watcher import OFFLINE_AFTER
from tests.blockkit import all_text, limit_problems
from tests.bots import (
    PROJECT,
    BotProcess,
    RunningBot,
    assert_no_secrets,
    fresh_fakes,
    start_bot,
    start_bot_process,
)
from tests.databases import sqlite_rows
from tests.fakes.gcore import REGIONS_PATH, USER_ACTIONS_PATH, FakeGcore, seed_deployment
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.test_e2e_http import button

CHANNEL = "C0OPS"
INTERVAL = "0.1"
# A log line a person running the bot at LOG_LEVEL=INFO would read.
LOUD = r" (INFO|WARNING|ERROR|CRITICAL) "
LIST_PATH = f"/cloud/v3/inference/{PROJECT}/deployments"


class WatchBot:
    """A bot with a fast watcher, and the waits a watch test needs."""

    def __init__(
        self,
        gcore: FakeGcore,
        slack: FakeSlack,
        workdir: Path,
        extra: dict[str, str] | None = None,
        *,
        process: bool = False,
    ) -> None:
        self.gcore, self.slack, self.workdir = gcore, slack, workdir
        self.start = start_bot_process if process else start_bot
        self.env = {
            "WATCH_INTERVAL_SECONDS": INTERVAL,
            "STUCK_AFTER_SECONDS": "600",
            "GCORE_OUTAGE_ALERT_AFTER": "3",
            "DATABASE_URL": f"sqlite:///{workdir / 'bot.db'}",
            **(extra or {}),
        }
        self.bot: RunningBot = self.start(gcore, slack, workdir, **self.env)

    def restart(self, *, kill: bool = False) -> None:
        if kill:
            assert isinstance(self.bot, BotProcess) and self.bot.process is not None
            os.kill(self.bot.process.pid, signal.SIGKILL)
            self.bot.process.wait(timeout=10)
            self.bot.http.close()
        else:
            self.bot.stop()
        self.bot = self.start(self.gcore, self.slack, self.workdir, **self.env)

    def list_requests(self) -> int:
        return sum(1 for r in self.gcore.requests if r.path == LIST_PATH)

    def polls(self, count: int = 2) -> None:
        """Wait until the watcher has polled ``count`` more times (the first may have been under way)."""
        start = self.list_requests()
        wait_for(lambda: self.list_requests() >= start + count, timeout=15, message=f"{count} polls")

    def command(self, text: str) -> dict[str, Any]:
        return self.bot.reply(self.bot.command(text)).body

    def watch(self, text: str = "watch my-instance") -> None:
        """Subscribe with ``text`` and wait until a poll that began after the subscription was saved has
        read Gcore: what the test changes from here on is the next poll's news."""
        reply = self.command(text)
        assert reply["response_type"] == "in_channel", reply["text"]
        saved = time.monotonic()
        wait_for(
            lambda: self.gcore.answered_since(LIST_PATH, saved) >= 1,
            timeout=15,
            message="a poll that read Gcore",
        )

    def alerts(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        """Top-level alert messages in the channel (thread replies excluded)."""
        return [
            m
            for m in self.slack.messages(channel)
            if (m.get("metadata") or {}).get("event_type") == "inference_bot_alert"
            and m.get("thread_ts") in (None, m["ts"])
        ]

    def replies(self, parent_ts: str, channel: str = CHANNEL) -> list[dict[str, Any]]:
        return [
            m
            for m in self.slack.messages(channel)
            if m.get("thread_ts") == parent_ts and m["ts"] != parent_ts
        ]

    def wait_alerts(self, count: int, channel: str = CHANNEL) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            found = self.alerts(channel)
            return found if len(found) >= count else None

        return wait_for(enough, timeout=15, message=f"{count} alerts in {channel}")

    def wait_edit(self, ts: str, words: str) -> dict[str, Any]:
        """The channel message ``ts`` once an edit made it say ``words``."""

        def edited() -> dict[str, Any] | None:
            message = self.slack.message(CHANNEL, ts)
            return message if message and words in all_text(message["blocks"]) else None

        return wait_for(edited, timeout=15, message=f"message {ts} to say {words!r}")

    def wait_replies(self, parent_ts: str, count: int) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            found = self.replies(parent_ts)
            return found if len(found) >= count else None

        return wait_for(enough, timeout=15, message=f"{count} replies under {parent_ts}")


def watch_bot(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path, *, process: bool, extra: dict[str, str] | None = None
) -> Iterator[WatchBot]:
    fresh_fakes(gcore, slack)
    bot = WatchBot(gcore, slack, tmp_path, extra, process=process)
    yield bot
    bot.bot.stop()
    sent = [c.params for c in slack.calls()] + [p.body for p in slack.responses()]
    # Nor in any row the bot stored (a test that moved the bot to PostgreSQL keeps its own checks).
    rows = sqlite_rows(tmp_path / "bot.db") if bot.env["DATABASE_URL"].startswith("sqlite") else ""
    assert_no_secrets(json.dumps(sent), bot.bot.log(), rows)


@pytest.fixture
def watcher(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[WatchBot]:
    """A watching bot in this process."""
    yield from watch_bot(gcore, slack, tmp_path, process=False)


@pytest.fixture
def process_watcher(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[WatchBot]:
    """A watching bot as ``python -m bot``, for what only a process can show (a SIGKILL)."""
    yield from watch_bot(gcore, slack, tmp_path, process=True)


def failing_containers(message: str) -> list[dict[str, Any]]:
    container = dict(seed_deployment()["containers"][0])
    container["deploy_status"] = {"ready": 0, "total": 3}
    container["error_message"] = message
    return [container]


def test_rollout_is_one_parent_updated_in_place_with_steps_in_its_thread(watcher: WatchBot) -> None:
    watcher.watch()
    assert watcher.alerts() == []  # the baseline poll alerts nothing
    since_watch = len(watcher.gcore.requests)

    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (parent,) = watcher.wait_alerts(1)
    assert "🟢 Active → 🔵 Deploying" in all_text(parent["blocks"])
    assert "Project 1" in all_text(parent["blocks"]) and "<!date^" in all_text(parent["blocks"])

    watcher.gcore.update(
        PROJECT, "my-instance", status="PARTIALLYDEPLOYED", containers=failing_containers("<!here> OOMKilled")
    )
    (step,) = watcher.wait_replies(parent["ts"], 1)
    assert "🔵 Deploying → 🟡 Partially deployed" in all_text(step["blocks"])
    assert "&lt;!here&gt; OOMKilled" in all_text(step["blocks"])
    assert step.get("reply_broadcast") is True  # the rollout's first problem

    watcher.gcore.update(PROJECT, "my-instance", status="ACTIVE", containers=seed_deployment()["containers"])
    steps = watcher.wait_replies(parent["ts"], 2)
    assert "✅ *my-instance* recovered: 🟡 Partially deployed → 🟢 Active" in all_text(steps[1]["blocks"])
    edited = watcher.wait_edit(parent["ts"], "✅ recovered after")
    assert "&lt;!here&gt; OOMKilled" in all_text(edited["blocks"])
    assert len(watcher.alerts()) == 1
    for message in [edited, *steps]:
        assert not limit_problems(message["blocks"], message["text"])

    # Scaling to zero is no part of the rollout: it goes to the day's sleep digest.
    watcher.polls()
    watcher.gcore.set_status(PROJECT, "my-instance", "PENDING")
    alerts = watcher.wait_alerts(2)
    assert "💤 *my-instance* slept 1× today · now 💤 asleep" in all_text(alerts[1]["blocks"])

    # One list request per watched project page per cycle; the watcher never asks per deployment (the
    # failure's alert asked for its log lines, once).
    asked = watcher.gcore.requests[since_watch:]
    assert [r.path for r in asked if r.path.endswith("/logs")] == [f"{LIST_PATH}/my-instance/logs"]
    # Region names for the alerts are looked up once and cached for an hour.
    assert [r.path for r in asked if r.path == REGIONS_PATH] == [REGIONS_PATH]
    # Who started the episode is asked of the audit log once.
    assert [r.path for r in asked if r.path == USER_ACTIONS_PATH] == [USER_ACTIONS_PATH]
    polls = [
        r for r in asked if not r.path.endswith("/logs") and r.path not in (REGIONS_PATH, USER_ACTIONS_PATH)
    ]
    assert polls and all(r.path == LIST_PATH and r.query == {"limit": "1000", "offset": "0"} for r in polls)


def test_flat_subscription_posts_every_alert_to_the_channel(watcher: WatchBot) -> None:
    watcher.watch("watch my-instance --flat")
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    watcher.wait_alerts(1)
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    alerts = watcher.wait_alerts(2)
    assert all(not watcher.replies(a["ts"]) for a in alerts)


def test_only_problems_skips_routine_changes(watcher: WatchBot) -> None:
    watcher.watch("watch my-instance --only problems")
    watcher.gcore.set_status(PROJECT, "my-instance", "PENDING")
    watcher.polls(3)
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.polls(3)
    assert watcher.alerts() == []
    watcher.gcore.update(
        PROJECT, "my-instance", status="PARTIALLYDEPLOYED", containers=failing_containers("CrashLoop")
    )
    (problem,) = watcher.wait_alerts(1)
    assert "CrashLoop" in all_text(problem["blocks"])
    watcher.gcore.update(PROJECT, "my-instance", status="ACTIVE", containers=seed_deployment()["containers"])
    assert "recovered" in all_text(watcher.wait_replies(problem["ts"], 1)[0]["blocks"])


def test_stuck_deployment_alerts_once(watcher: WatchBot) -> None:
    watcher.env["STUCK_AFTER_SECONDS"] = "1"
    watcher.restart()
    watcher.watch()
    watcher.gcore.update(
        PROJECT, "my-instance", status="PARTIALLYDEPLOYED", containers=failing_containers("pull failed")
    )
    (parent,) = watcher.wait_alerts(1)
    (stuck,) = watcher.wait_replies(parent["ts"], 1)
    assert "⏳ *my-instance* is stuck in 🟡 Partially deployed for over 1 s" in all_text(stuck["blocks"])
    assert "pull failed" in all_text(stuck["blocks"])
    watcher.polls(6)
    assert len(watcher.replies(parent["ts"])) == 1


def test_degraded_and_recovered(watcher: WatchBot) -> None:
    watcher.watch()
    short = failing_containers("")
    short[0].pop("error_message")
    short[0]["deploy_status"] = {"ready": 0, "total": 3}
    watcher.gcore.update(PROJECT, "my-instance", containers=short)
    (alert,) = watcher.wait_alerts(1)
    assert "🚨 *my-instance* is failing · 🟢 Active · 0/3 ready" in all_text(alert["blocks"])
    assert "🟠 degraded, below its minimum of 1" in all_text(alert["blocks"])
    watcher.gcore.update(PROJECT, "my-instance", containers=seed_deployment()["containers"])
    assert "back to 1/3 replicas ready" in all_text(watcher.wait_replies(alert["ts"], 1)[0]["blocks"])


def test_deleted_deployment_alerts_once_and_ends_the_subscription(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.gcore.remove(PROJECT, "my-instance")
    (alert,) = watcher.wait_alerts(1)
    assert "🗑️ *my-instance* is gone" in all_text(alert["blocks"])
    assert "🗑️ deleted (it was 🟢 Active)" in all_text(alert["blocks"])
    assert "subscription to it has ended" in all_text(alert["blocks"])
    # The subscription ended with the deployment: the project is no longer polled, nothing more is said.
    assert "watches nothing yet" in watcher.command("watching")["text"]
    assert len(watcher.alerts()) == 1


def test_flapping_is_one_message_updated_in_place(watcher: WatchBot) -> None:
    watcher.watch("watch my-instance --flat")
    for status in ["PARTIALLYDEPLOYED", "ACTIVE", "PARTIALLYDEPLOYED", "ACTIVE"]:
        watcher.gcore.set_status(PROJECT, "my-instance", status)
        watcher.polls()
    assert len(watcher.wait_alerts(4)) == 4
    watcher.gcore.set_status(PROJECT, "my-instance", "PARTIALLYDEPLOYED")
    flapping = watcher.wait_alerts(5)[4]
    assert "🔁 *my-instance* is flapping: 5 status changes in 10 min" in all_text(flapping["blocks"])
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    edited = watcher.wait_edit(flapping["ts"], "6 status changes")
    assert "now 🟢 Active" in all_text(edited["blocks"])
    watcher.polls(3)
    assert len(watcher.alerts()) == 5


@pytest.mark.usefixtures("quick_gcore_retries")
def test_gcore_outage_is_one_notice_and_one_recovery(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.gcore.set_down(True)
    (notice,) = watcher.wait_alerts(1)
    assert "can't reach the Gcore API for project 1" in notice["text"]
    watcher.polls(2 * RetryPolicy().attempts)  # two more failed polls, each of every attempt
    assert len(watcher.alerts()) == 1
    watcher.gcore.set_down(False)
    alerts = watcher.wait_alerts(2)
    assert "reachable again" in alerts[1]["text"]
    watcher.polls(3)
    assert len(watcher.alerts()) == 2  # and no status change was claimed


def test_archived_channel_pauses_and_tells_the_creator(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.slack.set_channel(CHANNEL, is_archived=True)
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    dm = wait_for(lambda: watcher.slack.messages("D0ALICE"), timeout=15, message="a DM to the creator")
    assert dm[0]["text"].startswith(
        "I paused alerts for `my-instance` in <#C0OPS>: the channel was archived. An archived channel can't "
        "run `/inference watch`: unarchive it and I'll resume them by myself within the hour, or watch from "
        "another channel."
    )
    watcher.slack.set_channel(CHANNEL, is_archived=False)
    listing = watcher.command("watching")
    assert "_paused: the channel was archived; run the same `watch` to resume_" in all_text(listing["blocks"])
    resumed = watcher.command("watch my-instance")
    assert "resumed alerts here" in resumed["text"]


def test_rejected_token_makes_healthz_unhealthy(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.slack.fail_next("chat.postMessage", "token_revoked", times=100)
    # Revoked for good: the rechecks with auth.test are rejected too, and the alert is held.
    watcher.slack.fail_next("auth.test", "token_revoked", times=100)
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    bot = watcher.bot
    wait_for(lambda: bot.http.get(f"{bot.url}/healthz").status_code == 503, timeout=15, message="unhealthy")
    wait_for(lambda: watcher.slack.calls("auth.test")[1:], timeout=15, message="a recheck of the token")
    health = bot.http.get(f"{bot.url}/healthz").json()
    assert health == {"ok": False, "problem": "Slack rejected the bot token (token_revoked)"}
    assert watcher.alerts() == []


def test_rate_limited_alert_waits_and_is_not_lost(watcher: WatchBot) -> None:
    watcher.watch("watch my-instance --flat")
    # Slack sends whole seconds; the bot takes any number, and a shorter wait is waited out the same way.
    watcher.slack.fail_next("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "0.3"})
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    watcher.wait_alerts(1)
    limited, posted, *_ = watcher.slack.calls("chat.postMessage")
    assert posted.at - limited.at >= 0.3


def test_subscription_commands(watcher: WatchBot) -> None:
    refused = watcher.command("watch nope-nope")
    assert refused["text"] == "There is no deployment named `nope-nope` in project 1."
    watcher.watch()
    again = watcher.command("watch my-instance")
    assert again["response_type"] == "ephemeral" and "Nothing changed" in again["text"]
    listing = watcher.command("watching")
    assert "`my-instance` (project 1)" in all_text(listing["blocks"])
    response_id = watcher.bot.click(button(listing["blocks"], ActionId.UNWATCH_SUBSCRIPTION))
    assert "watches nothing yet" in watcher.bot.reply(response_id).body["text"]
    card = watcher.command("status my-instance")
    response_id = watcher.bot.click(button(card["blocks"], ActionId.WATCH_DEPLOYMENT))
    refreshed = watcher.bot.reply(response_id).body
    assert refreshed["replace_original"] is True
    assert ActionId.UNWATCH_DEPLOYMENT in json.dumps(refreshed["blocks"])
    assert "is watching `my-instance`" in watcher.bot.reply(response_id, index=1).body["text"]
    assert "stopped alerts" in watcher.command("unwatch my-instance")["text"]
    assert "does not watch" in watcher.command("unwatch my-instance")["text"]


def test_restart_after_sigkill_mid_post_alerts_each_transition_once(process_watcher: WatchBot) -> None:
    watcher = process_watcher
    watcher.watch()
    # Slack accepts the post but answers slowly: the bot is killed before it learns the message ts.
    watcher.slack.set_delay("chat.postMessage", 5.0)
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    wait_for(lambda: watcher.slack.calls("chat.postMessage"), timeout=15, message="the first post")
    # Only the killed bot needs a process of its own: the one started on its database may run in this one.
    watcher.start = start_bot
    watcher.restart(kill=True)
    watcher.slack.set_delay("chat.postMessage", 0.0)
    watcher.polls(3)
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    (parent,) = watcher.wait_alerts(1)
    (reply,) = watcher.wait_replies(parent["ts"], 1)
    assert "🔵 Deploying → 🟢 Active" in all_text(reply["blocks"])
    watcher.polls(3)
    assert len(watcher.alerts()) == 1 and len(watcher.replies(parent["ts"])) == 1


def test_polls_that_find_nothing_log_nothing_at_info(watcher: WatchBot) -> None:
    watcher.watch()
    logged = len(watcher.bot.log())
    watcher.polls(5)
    # The scheduler's "Running job" and "executed successfully" were two lines a cycle.
    said = [line for line in watcher.bot.log()[logged:].splitlines() if re.search(LOUD, line)]
    assert said == []


def test_a_change_while_the_bot_is_down_is_alerted_once_marked_as_such(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.bot.stop()
    watcher.gcore.set_status(PROJECT, "my-instance", "DISABLED")
    # Down for more than three intervals is what "offline" means; no condition to wait for but time itself.
    time.sleep((OFFLINE_AFTER + 1) * float(INTERVAL))
    watcher.restart()
    (alert,) = watcher.wait_alerts(1)
    assert "happened while the bot was offline" in all_text(alert["blocks"])
    watcher.polls(3)
    assert len(watcher.alerts()) == 1
