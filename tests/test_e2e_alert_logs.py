"""Why it fails, end to end: problem alerts carry the deployment's last log lines, a failing logs endpoint
costs only those lines, ``ALERT_LOG_LINES=0`` never asks for them, and an alert's Logs button shows the
clicker more. The real bot against the Gcore and Slack fakes."""

from __future__ import annotations

from typing import Any

from bot.actions import ActionId
from tests.blockkit import all_text, limit_problems
from tests.bots import PROJECT
from tests.test_e2e_http import button
from tests.test_e2e_watch import LIST_PATH, WatchBot, failing_containers
from tests.test_e2e_watch import watcher as watcher  # the fixture: a watching bot in this process

LOGS_PATH = f"{LIST_PATH}/my-instance/logs"
FOLLOW_UP_EVENT = "inference_bot_alert_follow_up"


def log_entries(count: int, *, region_id: int = 1, start: int = 0) -> list[dict[str, Any]]:
    """``count`` lines a second apart, ``line N`` each."""
    return [
        {
            "message": f"line {n}",
            "pod": "my-instance-7f9c-x2x9k",
            "region_id": region_id,
            "time": f"2026-11-26T11:{n // 60:02d}:{n % 60:02d}Z",
        }
        for n in range(start, start + count)
    ]


def logs_asked(watcher: WatchBot) -> list[dict[str, str]]:
    return [r.query for r in watcher.gcore.requests if r.path == LOGS_PATH]


def fail(watcher: WatchBot) -> None:
    watcher.gcore.update(
        PROJECT, "my-instance", status="PARTIALLYDEPLOYED", containers=failing_containers("CrashLoopBackOff")
    )


def test_a_problem_that_wakes_people_shows_its_last_log_lines_oldest_first_mentioning_no_one(
    watcher: WatchBot,
) -> None:
    watcher.env["STUCK_AFTER_SECONDS"] = "1"
    watcher.restart()
    watcher.watch()
    lines = log_entries(8)
    lines[6]["message"] = "<!channel> <@U0BOSS> the model server crashed"
    # Another region's lines are not the failing region's story.
    watcher.gcore.set_logs(PROJECT, "my-instance", lines + log_entries(3, region_id=9, start=30))
    fail(watcher)
    (timeline,) = watcher.wait_alerts(1)
    # The episode's first step woke people with the timeline itself, which later steps edit: its log lines
    # are in a quiet reply under it. The stuck step after it is routine and asks for none.
    logs, stuck = watcher.wait_replies(timeline["ts"], 2)
    assert logs["metadata"]["event_type"] == FOLLOW_UP_EVENT and not logs.get("reply_broadcast")
    assert "is stuck in" in all_text(stuck["blocks"]) and "📜" not in all_text(stuck["blocks"])
    text = all_text(logs["blocks"])
    assert "📜 *Last 5 log lines* from " in text  # region 1, by its name when the bot knows it
    assert [n for n in range(11) if f" line {n}\n" in text] == [3, 4, 5, 7]
    assert text.index("line 3") < text.index("crashed") < text.index("line 7")
    assert "<!channel>" not in text and "<@U0BOSS>" not in text and "&lt;!channel&gt;" in text
    assert "<!channel>" not in logs["text"]
    assert not limit_problems(logs["blocks"], logs["text"])
    assert logs_asked(watcher) == [{"limit": "5", "offset": "0", "order_by": "time.desc", "region_id": "1"}]
    watcher.polls(2)
    assert len(watcher.replies(timeline["ts"])) == 2 and len(logs_asked(watcher)) == 1


def test_a_later_problem_carries_its_lines_in_the_broadcast_reply(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.gcore.set_logs(PROJECT, "my-instance", log_entries(3))
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (timeline,) = watcher.wait_alerts(1)
    fail(watcher)
    (woke,) = watcher.wait_replies(timeline["ts"], 1)
    assert woke["reply_broadcast"] is True
    text = all_text(woke["blocks"])
    assert "CrashLoopBackOff" in text and "📜 *Last 3 log lines* from " in text
    assert text.index("line 0") < text.index("line 1") < text.index("line 2")
    assert not limit_problems(woke["blocks"], woke["text"])


def test_with_the_logs_endpoint_failing_the_alert_still_arrives_without_lines(watcher: WatchBot) -> None:
    watcher.watch("watch my-instance --flat")
    watcher.gcore.set_logs(PROJECT, "my-instance", log_entries(3))
    watcher.gcore.fail_next(500, times=5, path=LOGS_PATH)
    fail(watcher)
    (alert,) = watcher.wait_alerts(1)
    assert "CrashLoopBackOff" in all_text(alert["blocks"]) and "📜" not in all_text(alert["blocks"])
    assert len(logs_asked(watcher)) == 1 and not watcher.replies(alert["ts"])
    assert "without log lines: http:500" in watcher.bot.log()


def test_alert_log_lines_0_asks_the_logs_endpoint_nothing(watcher: WatchBot) -> None:
    watcher.env["ALERT_LOG_LINES"] = "0"
    watcher.restart()
    watcher.watch()
    watcher.gcore.set_logs(PROJECT, "my-instance", log_entries(3))
    fail(watcher)
    (timeline,) = watcher.wait_alerts(1)
    watcher.polls(2)
    assert logs_asked(watcher) == [] and watcher.replies(timeline["ts"]) == []
    assert "📜" not in all_text(timeline["blocks"])


def test_the_logs_button_shows_the_clicker_alone_up_to_50_lines(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.gcore.set_logs(PROJECT, "my-instance", log_entries(70))
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (alert,) = watcher.wait_alerts(1)
    posts_before = len(watcher.slack.calls("chat.postMessage"))
    logs_button = button(alert["blocks"], ActionId.SHOW_LOGS)
    reply = watcher.bot.reply(watcher.bot.click(logs_button, message=alert)).body
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    text = all_text(reply["blocks"])
    assert "the last 50 log lines from " in text and ", oldest first" in text
    shown = [n for n in range(70) if f" line {n}\n" in text]
    assert shown == list(range(20, 70)) and text.index("line 20") < text.index("line 69")
    assert not limit_problems(reply["blocks"], reply["text"])
    assert logs_asked(watcher)[-1] == {"limit": "50", "offset": "0", "order_by": "time.desc"}
    assert len(watcher.slack.calls("chat.postMessage")) == posts_before  # the channel heard nothing

    # Gcore down, then the deployment gone: one sentence each, to the clicker alone.
    watcher.gcore.fail_next(500, times=1, path=LOGS_PATH)
    down = watcher.bot.reply(watcher.bot.click(logs_button, message=alert)).body
    assert down["response_type"] == "ephemeral"
    assert down["text"] == "The Gcore API did not answer; try again in a minute."
    watcher.gcore.remove(PROJECT, "my-instance")
    gone = watcher.bot.reply(watcher.bot.click(logs_button, message=alert)).body
    assert gone["response_type"] == "ephemeral"
    assert gone["text"] == "There is no deployment named `my-instance` in project 1."
