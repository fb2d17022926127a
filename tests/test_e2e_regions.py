"""Region names, problems first in ``list``, and the Open in Gcore link, through the real bot against the
loopback fakes: what a person sees in Slack.

Region names are cached for an hour in each bot, so the tests about them start a bot of their own: the
session's bot may hold names (or a failure) from any test before.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import services
from bot.actions import ActionId
from bot.gcore.regions import RegionNames
from tests.blockkit import all_text, limit_problems
from tests.bots import PROJECT, RunningBot, assert_no_secrets, fresh_fakes, start_bot
from tests.fakes.gcore import REGIONS_PATH, FakeGcore, seed_deployment
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.test_e2e_http import button

PORTAL = "https://portal.example/cloud/{project_id}/inference/{name}"


@contextlib.contextmanager
def own_bot(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[RunningBot]:
    """A bot of its own (no region names looked up yet), with the Gcore portal link set."""
    fresh_fakes(gcore, slack)
    bot = start_bot(gcore, slack, tmp_path, GCORE_PORTAL_URL=PORTAL)
    try:
        yield bot
        sent = [c.params for c in slack.calls()] + [p.body for p in slack.responses()]
        assert_no_secrets(json.dumps(sent), bot.log())
    finally:
        bot.stop()


@pytest.fixture
def fresh_bot(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[RunningBot]:
    with own_bot(gcore, slack, tmp_path) as bot:
        yield bot


def regions_asked(gcore: FakeGcore) -> int:
    return sum(1 for r in gcore.requests if r.path == REGIONS_PATH)


def test_cards_lists_and_details_name_regions(
    fresh_bot: RunningBot, gcore: FakeGcore, slack: FakeSlack
) -> None:
    gcore.put(
        seed_deployment(
            name="broken-one",
            status="PARTIALLYDEPLOYED",
            containers=[
                {**seed_deployment()["containers"][0], "region_id": 100, "error_message": "OOMKilled"}
            ],
        )
    )
    card = fresh_bot.reply(fresh_bot.command("status broken-one")).body
    text = all_text(card["blocks"])
    assert "⚠️ *Amsterdam* · 1/3 ready · OOMKilled" in text
    assert "Region 100" not in text
    assert not limit_problems(card["blocks"], card["text"])
    portal = button(card["blocks"], ActionId.OPEN_PORTAL)
    assert portal["url"] == f"https://portal.example/cloud/{PROJECT}/inference/broken-one"
    fresh_bot.click(portal)  # Slack sends link clicks too; the bot acks them (checked by click)

    listing = all_text(fresh_bot.reply(fresh_bot.command("list")).body["blocks"])
    assert "⚠️ *Amsterdam:* OOMKilled" in listing and "Luxembourg-2" in listing

    fresh_bot.click(button(card["blocks"], ActionId.DETAILS))
    update = wait_for(lambda: slack.calls("views.update"))[0]
    assert "*Amsterdam*  `▰▰▰▱▱▱▱▱▱▱` 1/3 ready" in all_text(update.params["view"]["blocks"])
    # One lookup served the card, the list and the modal.
    assert regions_asked(gcore) == 1


def test_a_failing_regions_endpoint_shows_ids_and_the_card_still_arrives(
    fresh_bot: RunningBot, gcore: FakeGcore
) -> None:
    gcore.fail_next(500, path=REGIONS_PATH)
    card = fresh_bot.reply(fresh_bot.command("status my-instance")).body
    assert card["blocks"][0]["text"]["text"] == "🟢 my-instance"
    assert "🟡 *Region 1* · 1/3 ready" in all_text(card["blocks"])
    # Not asked again at once: a broken endpoint does not cost every card a lookup.
    again = fresh_bot.reply(fresh_bot.command("status my-instance")).body
    assert "*Region 1*" in all_text(again["blocks"])
    assert regions_asked(gcore) == 1
    warnings = [line for line in fresh_bot.log().splitlines() if "region names unavailable" in line]
    assert len(warnings) == 1 and "http:500" in warnings[0]


def test_a_slow_regions_endpoint_delays_the_card_by_its_bounded_timeout_only(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # That the lookup is bounded is tested here, not its 2 s: a shorter bound, and a delay well past it.
    bound, delay = 0.3, 2.0
    monkeypatch.setattr(services, "RegionNames", functools.partial(RegionNames, timeout=bound))
    with own_bot(gcore, slack, tmp_path) as bot:
        gcore.set_delay(delay, path=REGIONS_PATH)
        started = time.monotonic()
        card = bot.reply(bot.command("status my-instance"), timeout=10).body
        assert time.monotonic() - started < delay
        assert "🟡 *Region 1* · 1/3 ready" in all_text(card["blocks"])
        gcore.set_delay(0, path=REGIONS_PATH)


def test_list_puts_problems_first_and_problems_filters(bot: RunningBot, gcore: FakeGcore) -> None:
    healthy = {**seed_deployment()["containers"][0], "deploy_status": {"ready": 3, "total": 3}}
    gcore.update(PROJECT, "my-instance", containers=[healthy])
    gcore.put(seed_deployment(name="aaa-fine", containers=[healthy]))
    gcore.put(seed_deployment(name="zzz-rolling", status="DEPLOYING"))
    crash = {**healthy, "deploy_status": {"ready": 0, "total": 3}, "error_message": "CrashLoopBackOff"}
    gcore.put(seed_deployment(name="mmm-broken", status="PARTIALLYDEPLOYED", containers=[crash]))

    listing = fresh_rows(bot, "list")
    assert listing == ["mmm-broken", "zzz-rolling", "aaa-fine", "my-instance"]
    assert fresh_rows(bot, "list --problems") == ["mmm-broken", "zzz-rolling"]
    assert fresh_rows(bot, "list —problems") == ["mmm-broken", "zzz-rolling"]  # a phone's em dash


def test_problems_filter_survives_paging(bot: RunningBot, gcore: FakeGcore) -> None:
    for i in range(25):
        gcore.put(seed_deployment(name=f"rolling-{i:02d}", status="DEPLOYING"))
    first = bot.reply(bot.command("list --problems")).body
    assert first["text"] == "25 of 26 deployments in project 1 need attention (page 1 of 2)"
    second = bot.reply(bot.click(button(first["blocks"], ActionId.LIST_NEXT))).body
    text = all_text(second["blocks"])
    assert "rolling-24" in text and "my-instance" not in text
    assert "Page 2 of 2" in text


def fresh_rows(bot: RunningBot, command: str) -> list[str]:
    """The deployment names of a list reply, in the order shown."""
    body = bot.reply(bot.command(command)).body
    rows = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section" and "accessory" in b]
    return [row.split("*")[1] for row in rows]
