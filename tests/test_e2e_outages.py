"""Outage notices end to end: the bot, in this process, polling the Gcore fake while it fails in each way a
Gcore outage looks, and what a watching channel reads (what is wrong, since when, how long it lasted)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.blockkit import all_text
from tests.bots import assert_no_secrets, fresh_fakes
from tests.fakes.gcore import FakeGcore
from tests.fakes.slack import FakeSlack
from tests.test_e2e_watch import LIST_PATH, WatchBot

_DATE = re.compile(r"<!date\^(\d+)\^")


@pytest.fixture
def watchers(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[Callable[..., WatchBot]]:
    """Start a watching bot with extra settings; each is stopped, and nothing it sent or logged holds a
    secret."""
    fresh_fakes(gcore, slack)
    started: list[WatchBot] = []

    def start(**env: str) -> WatchBot:
        started.append(WatchBot(gcore, slack, tmp_path, env))
        return started[-1]

    yield start
    for bot in started:
        bot.bot.stop()
        sent = [c.params for c in slack.calls()] + [p.body for p in slack.responses()]
        assert_no_secrets(json.dumps(sent), bot.bot.log())


def failed_list_requests(gcore: FakeGcore, after: float) -> list[float]:
    """When each list request since monotonic ``after`` arrived, in wall-clock seconds."""
    offset = time.time() - time.monotonic()
    return [r.at + offset for r in gcore.requests if r.path == LIST_PATH and r.at >= after]


def test_a_rejected_key_says_so_and_since_the_first_failed_poll(watchers: Callable[..., WatchBot]) -> None:
    # Eight polls 0.2 s apart span more than a second, so the notice's time is a later second than its since.
    watcher = watchers(GCORE_OUTAGE_ALERT_AFTER="8", WATCH_INTERVAL_SECONDS="0.2")
    watcher.watch()
    began = time.monotonic()
    # A 401 is not retried: each poll is one request, so eight failed polls, then Gcore takes the key again.
    watcher.gcore.fail_next(401, times=8, path=LIST_PATH)
    (notice,) = watcher.wait_alerts(1)
    assert (
        notice["text"] == "📡 The bot can't reach the Gcore API for project 1: the API key was rejected (401)"
    )
    text = all_text(notice["blocks"])
    assert "check `GCORE_API_KEY`" in text
    since, at = (int(found) for found in _DATE.findall(text))
    failed = failed_list_requests(watcher.gcore, began)
    # Failing since the first failed poll (recorded after its request, before the next poll's), not since
    # the eighth, which sent the notice.
    assert int(failed[0]) <= since <= failed[1]
    assert at >= int(failed[7]) and at > since
    assert f"Failing since <!date^{since}^" in text

    back = watcher.wait_alerts(2)[1]
    lasted = re.fullmatch(r"📡 The Gcore API is reachable again for project 1, after (\d+) s", back["text"])
    assert lasted is not None, back["text"]
    assert 1 <= int(lasted.group(1)) <= 60
    assert f"It had been failing since <!date^{since}^" in all_text(back["blocks"])
    watcher.polls(2)
    assert len(watcher.alerts()) == 2


@pytest.mark.usefixtures("quick_gcore_retries")
def test_a_gcore_that_drops_connections_gives_no_answer(watchers: Callable[..., WatchBot]) -> None:
    watcher = watchers(GCORE_OUTAGE_ALERT_AFTER="1")
    watcher.watch()
    watcher.gcore.set_down(True)
    (notice,) = watcher.wait_alerts(1)
    assert notice["text"].startswith("📡 The bot can't reach the Gcore API for project 1: no answer")
    assert "Failing since <!date^" in all_text(notice["blocks"])
    assert "GCORE_API_KEY" not in all_text(notice["blocks"])
    watcher.gcore.set_down(False)
    back = watcher.wait_alerts(2)[1]
    assert re.fullmatch(r"📡 The Gcore API is reachable again for project 1, after \d+ (s|min)", back["text"])


@pytest.mark.usefixtures("quick_gcore_retries")
def test_gcore_errors_say_their_status_once_to_a_channel_watching_twice(
    watchers: Callable[..., WatchBot],
) -> None:
    watcher = watchers(GCORE_OUTAGE_ALERT_AFTER="1")
    watcher.watch("watch my-instance")
    watcher.watch("watch --all")
    listing = all_text(watcher.command("watching")["blocks"])
    assert "`my-instance` (project 1)" in listing and "every deployment of project 1" in listing
    # Each poll tries four times: four 503s are one failed poll, then Gcore is back.
    watcher.gcore.fail_next(503, times=4, path=LIST_PATH)
    (notice,) = watcher.wait_alerts(1)
    assert notice["text"] == "📡 The bot can't reach the Gcore API for project 1: Gcore errors (503)"
    alerts = watcher.wait_alerts(2)
    assert "reachable again for project 1, after" in alerts[1]["text"]
    watcher.polls(2)
    assert len(watcher.alerts()) == 2
