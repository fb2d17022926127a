"""Gcore's faults, one by one, against a watching bot over real HTTP: no false transition, the schedule
kept, the right sentence for the person who asks, and recovery without a restart (docs/reliability.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.blockkit import all_text, limit_problems
from tests.bots import PROJECT
from tests.fakes.gcore import FakeGcore, seed_deployment
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.test_e2e_watch import LIST_PATH, WatchBot, watch_bot

GET_PATH = f"{LIST_PATH}/my-instance"
# What the bot logs for a poll whose listing failed all its attempts.
FAILED_POLL = f"polling project {PROJECT} failed"
PROXY_PAGE = "<html><body><h1>502 Bad Gateway</h1></body></html>"
NO_ANSWER = "The Gcore API did not answer; try again in a minute."
UNREADABLE = "The Gcore API sent an answer the bot could not read; try again in a minute."
# Each fault: how to inject it on a path, and the sentence `status` gets while it lasts.
FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "500": ({"status": 500}, NO_ANSWER),
    "502": ({"status": 502}, NO_ANSWER),
    "503": ({"status": 503}, NO_ANSWER),
    "504": ({"status": 504}, NO_ANSWER),
    "429 with Retry-After": (
        {"status": 429, "headers": {"Retry-After": "1"}},
        "Gcore is rate limiting the bot; try again in 1 s.",
    ),
    "429 without Retry-After": ({"status": 429}, "Gcore is rate limiting the bot; try again in a minute."),
    "HTML instead of JSON": ({"status": 200, "html": PROXY_PAGE}, UNREADABLE),
    "JSON of the wrong shape": ({"status": 200, "body": {"unexpected": [1, 2]}}, UNREADABLE),
    "a 401 after a key rotation": (
        {"status": 401},
        "The bot's Gcore API key was rejected; ask whoever runs the bot to check `GCORE_API_KEY`.",
    ),
}


@pytest.fixture
def watcher(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path, quick_gcore_retries: None
) -> Iterator[WatchBot]:
    """A bot watching my-instance, told of an outage only after many failed polls: a short fault is quiet."""
    yield from watch_bot(gcore, slack, tmp_path, process=False, extra={"GCORE_OUTAGE_ALERT_AFTER": "50"})


def no_false_transition_and_recovery(
    watcher: WatchBot, fault: Callable[[], None], polls: int = 3, *, failing: bool = True
) -> None:
    """Run ``fault`` on a watching bot: a poll fails whole (unless not ``failing``), the polls go on with no
    alert, and once it is over a real change is one alert, with no restart."""
    watcher.watch()
    fault()
    watcher.polls(polls)
    assert (FAILED_POLL in watcher.bot.log()) is failing
    assert watcher.alerts() == []
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (alert,) = watcher.wait_alerts(1)
    assert "🟢 Active → 🔵 Deploying" in all_text(alert["blocks"])


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_gcore_fault_is_no_transition_and_one_sentence(watcher: WatchBot, name: str) -> None:
    injection, sentence = FAULTS[name]

    def asked_while_the_watcher_polls() -> None:
        # The person asks while the watcher polls through the same fault; both wait out its retries at once.
        # Four answers on the listing: a poll's four attempts where the client retries the fault (one poll
        # fails whole), else four polls that fail. The fifth listing comes after all four were answered.
        listed = watcher.list_requests()
        watcher.gcore.fail_next(times=4, path=LIST_PATH, **injection)
        watcher.gcore.fail_next(times=20, path=GET_PATH, **injection)
        reply = watcher.command("status my-instance")
        assert reply["response_type"] == "ephemeral" and reply["text"].endswith(sentence), reply["text"]
        wait_for(lambda: watcher.list_requests() >= listed + 5, timeout=15, message="4 failed listings")
        watcher.gcore.clear_failures()
        assert "my-instance" in all_text(watcher.command("status my-instance")["blocks"])

    no_false_transition_and_recovery(watcher, asked_while_the_watcher_polls, polls=1)


def test_a_listing_whose_count_disagrees_is_no_transition_and_one_sentence(watcher: WatchBot) -> None:
    short = {"count": 5, "results": [seed_deployment()]}
    watcher.gcore.fail_next(200, times=20, path=LIST_PATH, body=short)
    assert watcher.command("list")["text"] == (
        "Gcore's list of deployments in project 1 came back incomplete; try again in a minute."
    )
    watcher.gcore.clear_failures()
    # Two listings a poll (the second page repeats the first): two polls fail, the fifth listing answers.
    no_false_transition_and_recovery(
        watcher, lambda: watcher.gcore.fail_next(200, times=4, path=LIST_PATH, body=short), polls=5
    )


@pytest.fixture
def impatient_watcher(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[WatchBot]:
    """The same, with a request deadline of half a second."""
    extra = {"GCORE_OUTAGE_ALERT_AFTER": "50", "GCORE_REQUEST_DEADLINE_SECONDS": "0.5"}
    yield from watch_bot(gcore, slack, tmp_path, process=False, extra=extra)


def test_a_read_that_hangs_past_the_deadline_is_no_transition(impatient_watcher: WatchBot) -> None:
    watcher = impatient_watcher

    def hang_then_answer() -> None:
        watcher.gcore.set_delay(2.0, path=LIST_PATH)
        # The fake fixes a request's delay as it arrives: the one counted here hangs past the deadline.
        watcher.polls(1)
        watcher.gcore.set_delay(0.0, path=LIST_PATH)

    no_false_transition_and_recovery(watcher, hang_then_answer, polls=1)


def test_connections_reset_are_no_transition(watcher: WatchBot) -> None:
    def down_then_up() -> None:
        watcher.gcore.set_down(True)
        # Up again once a whole poll, each of its attempts, has failed.
        wait_for(lambda: FAILED_POLL in watcher.bot.log(), timeout=15, message="a failed poll")
        watcher.gcore.set_down(False)

    no_false_transition_and_recovery(watcher, down_then_up, polls=1)


@pytest.mark.parametrize(
    "odd",
    [
        "every optional field null",
        "500 containers",
        "a 100 kB description",
    ],
)
def test_odd_but_valid_data_makes_a_card_within_slacks_limits_and_no_transition(
    watcher: WatchBot, odd: str
) -> None:
    deployment = seed_deployment()
    if odd == "every optional field null":
        for field in ("description", "address", "command", "envs", "logging", "probes", "api_keys"):
            if field in deployment:
                deployment[field] = None
    elif odd == "500 containers":
        deployment["containers"] = deployment["containers"] * 500
    else:
        deployment["description"] = "d" * 100_000
    watcher.gcore.put(deployment)
    card = watcher.command("status my-instance")
    assert card["response_type"] == "ephemeral" and "my-instance" in all_text(card["blocks"])
    assert not limit_problems(card["blocks"], card["text"])
    no_false_transition_and_recovery(watcher, lambda: None, failing=False)
