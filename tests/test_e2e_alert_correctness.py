"""Never lose, double or invent an alert: ``python -m bot`` against the fakes with scripted faults.

Each test is one way the shipped bot once lost, doubled or invented alerts (issue 7 and
docs/reliability.md). They count what reaches the Slack fake: 0 lost, 0 doubled, 0 false.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import lifecycle
from tests.blockkit import all_text
from tests.bots import PROJECT, bot_environment, free_port, fresh_fakes
from tests.databases import leader_pid, terminate_leader_session
from tests.fakes.gcore import FakeGcore, seed_deployment
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.test_e2e_watch import CHANNEL, LIST_PATH, WatchBot, failing_containers

OTHER = "C0DEV"
GET_PATH = f"{LIST_PATH}/my-instance"


@pytest.fixture
def fakes(gcore: FakeGcore, slack: FakeSlack) -> tuple[FakeGcore, FakeSlack]:
    fresh_fakes(gcore, slack)
    return gcore, slack


@pytest.fixture
def bots(fakes: tuple[FakeGcore, FakeSlack]) -> Iterator[list[WatchBot]]:
    """Bots a test starts; each is stopped afterwards. A test names its database fixture before this one,
    so the bots stop before their database is dropped."""
    started: list[WatchBot] = []
    yield started
    for bot in started:
        bot.bot.stop()


def start(bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], workdir: Path, **env: str) -> WatchBot:
    workdir.mkdir(parents=True, exist_ok=True)
    bot = WatchBot(fakes[0], fakes[1], workdir, env)
    bots.append(bot)
    return bot


@pytest.fixture
def quick_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``SHUTDOWN_SECONDS=3``, the stop cuts short what still waits after 0.2 s instead of 1 s (2 s are
    kept for closing): for tests that leave work outlasting them. How a stop cuts work short is
    test_e2e_shutdown's and test_lifecycle's."""
    monkeypatch.setattr(lifecycle, "CLOSING_SECONDS", 2.8)


def alert_ids(slack: FakeSlack, channel: str = CHANNEL) -> list[int]:
    """The delivery id of every alert message in the channel, replies included, in posting order."""
    return [
        m["metadata"]["event_payload"]["delivery_id"]
        for m in slack.messages(channel)
        if (m.get("metadata") or {}).get("event_type") == "inference_bot_alert"
    ]


def texts(slack: FakeSlack, channel: str = CHANNEL) -> list[str]:
    return [all_text(m.get("blocks", [])) or m["text"] for m in slack.messages(channel)]


# -- lost alerts ------------------------------------------------------------------------------------


def test_a_users_list_between_a_change_and_the_next_poll_hides_nothing(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    # Long enough for the change and the list command to land between one poll and the next.
    watcher = start(bots, fakes, tmp_path, WATCH_INTERVAL_SECONDS="0.3")
    watcher.watch("watch my-instance --flat")
    for round_, status in enumerate(["DEPLOYING", "ACTIVE", "DEPLOYING"], start=1):
        watcher.polls(1)
        watcher.gcore.set_status(PROJECT, "my-instance", status)
        assert "my-instance" in json.dumps(watcher.command("list"))
        watcher.wait_alerts(round_)
    assert len(watcher.alerts()) == 3


def test_a_malformed_deployment_blinds_nothing_else(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    gcore, _ = fakes
    gcore.put(seed_deployment(name="bad-status", status=None))
    broken = seed_deployment(name="bad-region")
    broken["containers"][0]["region_id"] = None
    gcore.put(broken)
    watcher = start(bots, fakes, tmp_path)
    watcher.watch("watch --all --flat")
    watcher.polls(2)
    gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (alert,) = watcher.wait_alerts(1)
    assert "my-instance* changed" in all_text(alert["blocks"])
    # Fixed, the odd ones are no news: they were there all along.
    gcore.set_status(PROJECT, "bad-status", "ACTIVE")
    gcore.update(PROJECT, "bad-region", containers=seed_deployment()["containers"])
    watcher.polls(3)
    assert len(watcher.alerts()) == 1
    log = watcher.bot.log()
    assert log.count("'bad-status', which cannot be read (status: string_type)") == 1
    assert log.count("'bad-region', which cannot be read (containers.0.region_id: int_type)") == 1


def test_a_listing_that_cannot_be_read_at_all_is_a_failed_poll(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    watcher = start(bots, fakes, tmp_path, GCORE_OUTAGE_ALERT_AFTER="1")
    watcher.watch()
    watcher.gcore.fail_next(200, times=10_000, body={"detail": "not a listing"}, path=LIST_PATH)
    (notice,) = watcher.wait_alerts(1)
    assert "can't reach the Gcore API for project 1" in notice["text"]


def test_long_values_stop_nothing_on_either_engine(
    database_url: str, bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    gcore, _ = fakes
    gcore.put(seed_deployment(name="n" * 100))
    watcher = start(bots, fakes, tmp_path, DATABASE_URL=database_url)
    watcher.watch("watch --all --flat")
    gcore.set_status(PROJECT, "my-instance", "S" * 200)
    (odd,) = watcher.wait_alerts(1)
    assert "S" * 64 in all_text(odd["blocks"]) and "S" * 65 not in all_text(odd["blocks"])
    gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    alerts = watcher.wait_alerts(2)
    assert "→ 🔵 Deploying" in all_text(alerts[1]["blocks"])
    assert watcher.bot.log().count("name longer than 64") == 1


def test_a_passing_channel_not_found_pauses_nothing(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    watcher = start(bots, fakes, tmp_path)
    watcher.watch()
    watcher.slack.fail_next("chat.postMessage", "channel_not_found", channel=CHANNEL)
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (alert,) = watcher.wait_alerts(1)
    assert "🟢 Active → 🔵 Deploying" in all_text(alert["blocks"])
    assert watcher.slack.messages("U0ALICE") == []
    assert "paused" not in all_text(watcher.command("watching")["blocks"])


def test_a_paused_channel_resumes_by_itself(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    watcher = start(bots, fakes, tmp_path, PAUSED_CHANNEL_RECHECK_SECONDS="1")
    watcher.watch()
    watcher.slack.set_channel(CHANNEL, is_archived=True)
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (paused,) = wait_for(lambda: watcher.slack.messages("U0ALICE"), timeout=15, message="the pause DM")
    assert "resume them by myself within 1 s" in paused["text"]
    watcher.slack.set_channel(CHANNEL, is_archived=False)

    def second_dm() -> dict[str, object] | None:
        dms = watcher.slack.messages("U0ALICE")
        return dms[1] if len(dms) > 1 else None

    resumed = wait_for(second_dm, timeout=15, message="the resume DM")
    assert "I can post in <#C0OPS> again, so alerts for `my-instance` are back on there" in str(
        resumed["text"]
    )
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    (alert,) = watcher.wait_alerts(1)
    assert "🔵 Deploying → 🟢 Active" in all_text(alert["blocks"])


def test_a_passing_invalid_auth_holds_alerts_only_until_the_token_checks_out(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    watcher = start(bots, fakes, tmp_path)
    watcher.watch()
    bot = watcher.bot
    watcher.slack.fail_next("chat.postMessage", "invalid_auth")
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    wait_for(lambda: bot.http.get(f"{bot.url}/healthz").status_code == 503, timeout=15, message="unhealthy")
    (alert,) = watcher.wait_alerts(1)
    assert "🟢 Active → 🔵 Deploying" in all_text(alert["blocks"])
    assert bot.http.get(f"{bot.url}/healthz").status_code == 200
    assert len(watcher.slack.calls("auth.test")) >= 2  # at start, and the recheck


def test_a_message_slack_finds_too_long_goes_out_compact(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    watcher = start(bots, fakes, tmp_path)
    watcher.watch()
    watcher.slack.set_message_limit(700)
    watcher.gcore.update(
        PROJECT, "my-instance", status="PARTIALLYDEPLOYED", containers=failing_containers("E" * 300)
    )
    (alert,) = watcher.wait_alerts(1)
    text = all_text(alert["blocks"])
    assert "*my-instance* changed: 🟢 Active → 🟡 Partially deployed" in text
    assert "Project 1" in text and "<!date^" in text and "E" * 300 not in text
    assert [b["type"] for b in alert["blocks"]] == ["section", "context"]


# -- invented alerts and deleted subscriptions ---------------------------------------------------------


def test_an_empty_or_short_listing_deletes_nothing(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    gcore, _ = fakes
    gcore.put(seed_deployment(name="other-one"))
    watcher = start(bots, fakes, tmp_path)
    watcher.watch()
    assert watcher.bot.reply(watcher.bot.command("watch --all --flat", channel_id=OTHER)).body
    watcher.polls(2)
    # More empty listings in a row than GCORE_OUTAGE_ALERT_AFTER (3): one taken for a failed poll would
    # show as a notice.
    gcore.fail_next(200, times=5, body={"count": 0, "results": []}, path=LIST_PATH)
    watcher.polls(7)
    # One poll reads a page short of its count, then the same page again for offset 1: incomplete.
    gcore.fail_next(200, times=2, body={"count": 3, "results": [seed_deployment()]}, path=LIST_PATH)
    watcher.polls(4)
    assert watcher.alerts() == [] and watcher.alerts(OTHER) == []
    assert "`my-instance` (project 1)" in all_text(watcher.command("watching")["blocks"])
    # A real deletion is still told, once: the listing lacks it and a GET answers 404.
    gcore.remove(PROJECT, "other-one")
    (gone,) = watcher.wait_alerts(1, channel=OTHER)
    assert "🗑️ *other-one* is gone" in all_text(gone["blocks"])
    assert any(r.path == f"{LIST_PATH}/other-one" for r in gcore.requests)


def test_a_change_of_spelling_is_no_alert(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    watcher = start(bots, fakes, tmp_path)
    watcher.watch()
    watcher.gcore.set_status(PROJECT, "my-instance", "active")
    watcher.polls(3)
    assert watcher.alerts() == []
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (alert,) = watcher.wait_alerts(1)
    assert "🟢 Active → 🔵 Deploying" in all_text(alert["blocks"])


# -- doubled alerts -------------------------------------------------------------------------------------


# Deployments changed together, so each poll queues several alerts in one channel.
DEPLOYMENTS = [f"replica-test-{i}" for i in range(4)]


def put_step_deployments(gcore: FakeGcore) -> None:
    for name in DEPLOYMENTS:
        gcore.put(seed_deployment(name=name))


def burst(watcher: WatchBot, status: str, expected: int, names: list[str] = DEPLOYMENTS) -> None:
    """Change the deployments at once: one poll, a queue of alerts the channel's pacing spreads out."""
    for name in names:
        watcher.gcore.set_status(PROJECT, name, status)
    watcher.wait_alerts(expected)


def test_two_replicas_on_postgresql_post_each_alert_once(
    postgres_url: str, bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    put_step_deployments(fakes[0])
    first = start(bots, fakes, tmp_path / "a", DATABASE_URL=postgres_url)
    second = start(bots, fakes, tmp_path / "b", DATABASE_URL=postgres_url)
    first.watch("watch --all --flat")
    burst(second, "DEPLOYING", 4)
    burst(second, "ACTIVE", 8)
    # Each replica's cycles wake its notifier: a few cycles give both as many rounds in which to post twice.
    second.polls(4)
    ids = alert_ids(first.slack)
    assert len(ids) == 8 and len(set(ids)) == len(ids)


def test_a_replica_that_loses_its_lock_stops_at_once(
    postgres_url: str, bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    put_step_deployments(fakes[0])
    first = start(bots, fakes, tmp_path / "a", DATABASE_URL=postgres_url)
    start(bots, fakes, tmp_path / "b", DATABASE_URL=postgres_url)
    first.watch("watch --all --flat")
    pair = DEPLOYMENTS[:2]
    burst(first, "DEPLOYING", 2, pair)
    # Four changes of each deployment in all: one more would make it a flapping alert.
    for failover, status in enumerate(["ACTIVE", "DISABLED", "ACTIVE"], start=1):
        ended = leader_pid(postgres_url)
        assert terminate_leader_session(postgres_url) == 1
        wait_for(lambda: leader_pid(postgres_url) not in (None, ended), timeout=15, message="a new leader")  # noqa: B023
        burst(first, status, 2 * (failover + 1), pair)
    first.polls(4)
    ids = alert_ids(first.slack)
    assert len(ids) == 8 and len(set(ids)) == len(ids)


def test_a_post_whose_answer_is_lost_is_not_posted_again(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    watcher = start(bots, fakes, tmp_path)
    watcher.watch()
    for _ in range(2):
        watcher.slack.fail_next("chat.postMessage", "internal_error", status=500, after_effect=True)
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (parent,) = watcher.wait_alerts(1)
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.wait_replies(parent["ts"], 1)
    # Each cycle wakes the notifier: a few cycles are as many rounds in which it could post again.
    watcher.polls(3)
    assert len(watcher.alerts()) == 1 and len(watcher.replies(parent["ts"])) == 1
    ids = alert_ids(watcher.slack)
    assert len(ids) == 2 == len(set(ids))


def test_a_second_process_on_one_sqlite_file_refuses_to_start(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    gcore, slack = fakes
    put_step_deployments(gcore)
    watcher = start(bots, fakes, tmp_path)
    env = bot_environment(gcore, slack, free_port(), **watcher.env)
    second = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert second.returncode == 2
    assert second.stderr.strip().splitlines()[-1] == (
        f"inference-bot: cannot start: another bot process is already using {tmp_path / 'bot.db'}; "
        "run one process per SQLite file (several replicas need PostgreSQL)"
    )
    watcher.watch("watch --all --flat")
    burst(watcher, "DEPLOYING", 4)
    watcher.polls(2)
    assert len(alert_ids(slack)) == 4


# -- timeliness -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("quick_cut")
@pytest.mark.parametrize("trouble", ["a 429 asking for 40 s", "posts that take 25 s"])
def test_one_channels_trouble_delays_no_other_channel(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path, trouble: str
) -> None:
    # The trouble outlasts the test: the stop cuts the post still waiting short.
    watcher = start(bots, fakes, tmp_path, SHUTDOWN_SECONDS="3")
    watcher.watch("watch my-instance --flat")
    assert watcher.bot.reply(watcher.bot.command("watch my-instance --flat", channel_id=OTHER)).body
    slack = watcher.slack
    if trouble.startswith("a 429"):
        slack.fail_next(
            "chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "40"}, channel=OTHER
        )
    else:
        slack.set_delay("chat.postMessage", 25.0, channel=OTHER)
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    wait_for(lambda: slack.calls("chat.postMessage"), timeout=15, message="the first post")
    started = time.monotonic()
    watcher.wait_alerts(1)
    assert time.monotonic() - started < 3
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.wait_alerts(2)
    assert time.monotonic() - started < 6
    assert len(watcher.alerts(OTHER)) <= 1  # still in trouble


@pytest.mark.usefixtures("quick_cut")
def test_slow_commands_leave_the_watcher_its_own_capacity(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    # Sixty commands still wait on Gcore at the end: the stop cuts them short.
    watcher = start(bots, fakes, tmp_path, SHUTDOWN_SECONDS="3")
    watcher.watch()
    watcher.gcore.set_delay(20.0, path=GET_PATH)
    for _ in range(60):
        watcher.bot.command("status my-instance")
    wait_for(
        lambda: sum(r.path == GET_PATH for r in watcher.gcore.requests) >= 50,
        timeout=10,
        message="50 slow GETs",
    )
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    started = time.monotonic()
    watcher.wait_alerts(1)
    assert time.monotonic() - started < 5
    watcher.gcore.set_delay(0.0, path=GET_PATH)


def test_an_answer_that_trickles_in_is_a_failed_poll(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    watcher = start(bots, fakes, tmp_path, GCORE_REQUEST_DEADLINE_SECONDS="0.5", GCORE_OUTAGE_ALERT_AFTER="1")
    watcher.watch()
    watcher.gcore.set_trickle(2.0, path=LIST_PATH)
    (notice,) = watcher.wait_alerts(1)
    assert "can't reach the Gcore API for project 1" in notice["text"]
    watcher.gcore.set_trickle(0.0, path=LIST_PATH)
    alerts = watcher.wait_alerts(2)
    assert "reachable again" in alerts[1]["text"]


def test_a_listing_that_never_ends_is_bounded(
    bots: list[WatchBot], fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    watcher = start(bots, fakes, tmp_path)
    watcher.watch()
    gcore = watcher.gcore
    gcore.fail_next(200, times=100_000, body={"count": 10**6, "results": [seed_deployment()]}, path=LIST_PATH)
    reply = watcher.command("list")
    assert (
        "Gcore's list of deployments in project 1 came back incomplete; try again in a minute."
        in reply["text"]
    )
    gcore.clear_requests()

    def polls() -> list[str]:
        return [r.query["offset"] for r in gcore.requests if r.path == LIST_PATH]

    wait_for(lambda: polls().count("0") >= 3, timeout=15, message="3 polls")
    # Each poll stops at the second page, which repeats the first.
    assert len(polls()) <= 2 * polls().count("0") + 1
    notice = watcher.wait_alerts(1)[0]
    assert "can't reach the Gcore API" in notice["text"]
