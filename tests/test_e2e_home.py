"""The Home tab end to end: ``app_home_opened`` over signed HTTP, views.publish at the Slack fake, and the
watcher republishing it after a change in the Gcore fake, once per viewer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.actions import ActionId
from bot.watch import home as home_tab
from tests.blockkit import all_text
from tests.bots import PROJECT
from tests.fakes.gcore import REGIONS_PATH, FakeGcore, seed_deployment
from tests.fakes.server import wait_for
from tests.fakes.slack import ApiCall, FakeSlack
from tests.fakes.slack_requests import app_home_opened, home_block_action, interactive_body
from tests.test_e2e_watch import WatchBot, failing_containers, watch_bot
from tests.test_home_formatters import buttons, view_problems

ALICE, BOB = "U0ALICE", "U0BOB"
PORTAL = "https://portal.example.com/{project_id}/deployments/{name}"


def watching_home(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[WatchBot]:
    for bot in watch_bot(gcore, slack, tmp_path, process=False):
        gcore.put(seed_deployment(name="llama-70b", status="DEPLOYING"))
        subscribe(bot, "watch my-instance", "C0OPS")
        subscribe(bot, "watch --all", "C0ML")
        bot.polls()
        yield bot


@pytest.fixture
def home(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[WatchBot]:
    """A watching bot whose channels watch ``my-instance`` (#ops) and all of project 1 (#ml)."""
    yield from watching_home(gcore, slack, tmp_path)


@pytest.fixture
def busy_home(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WatchBot]:
    """``home``, publishing at 50 a second after its burst, for a test of more publishes than the burst that
    is not about their pace (at Slack's, 0.6 s apart, they were most of its time)."""
    monkeypatch.setattr(home_tab, "PUBLISHES_PER_SECOND", 50.0)
    yield from watching_home(gcore, slack, tmp_path)


def subscribe(bot: WatchBot, text: str, channel: str) -> None:
    reply = bot.bot.reply(bot.bot.command(text, channel_id=channel)).body
    assert reply["response_type"] == "in_channel", reply["text"]


def watch_here(bot: WatchBot, text: str, channel: str) -> None:
    subscribe(bot, text, channel)
    bot.polls()


def publishes(slack: FakeSlack, user_id: str | None = None) -> list[ApiCall]:
    return [c for c in slack.calls("views.publish") if user_id in (None, c.params["user_id"])]


def wait_publishes(slack: FakeSlack, count: int, user_id: str | None = None) -> list[ApiCall]:
    def enough() -> list[ApiCall] | None:
        found = publishes(slack, user_id)
        return found if len(found) >= count else None

    return wait_for(enough, timeout=15, message=f"{count} views.publish to {user_id or 'anyone'}")


def open_home(bot: WatchBot, user_id: str) -> dict[str, Any]:
    """Open the Home tab as ``user_id``; the view published to them in answer."""
    before = len(publishes(bot.slack, user_id))
    bot.bot.event(app_home_opened(user_id))
    view: dict[str, Any] = wait_publishes(bot.slack, before + 1, user_id)[-1].params["view"]
    return view


def test_opening_the_home_tab_publishes_what_every_channel_watches(home: WatchBot) -> None:
    home.bot.event(app_home_opened(ALICE, tab="messages"))
    view = open_home(home, ALICE)
    assert [c.params["user_id"] for c in publishes(home.slack)] == [ALICE]  # not for the Messages tab
    assert not view_problems(view)
    text = all_text(view["blocks"])
    assert "2 deployments watched in 1 project · ⚠️ 1 needs attention" in text
    # Problems first: llama-70b (rolling out) before my-instance; who watches each.
    assert text.index("llama-70b") < text.index("*my-instance*")
    assert "*llama-70b* · 🔵 Deploying · 1/3 ready\nWatched in <#C0ML>" in text
    assert "*my-instance* · 🟢 Active · 1/3 ready\nWatched in <#C0ML>, <#C0OPS>" in text
    # Acting is off: no Stop or Start, and no portal link without GCORE_PORTAL_URL.
    assert set(buttons(view, "my-instance")) == {ActionId.DETAILS}
    # Rendered from the store: opening it asked Gcore nothing but the polls and the regions' names.
    polls_only = {f"/cloud/v3/inference/{PROJECT}/deployments", REGIONS_PATH}
    home.gcore.clear_requests()
    open_home(home, BOB)
    assert {r.path for r in home.gcore.requests} <= polls_only


def test_a_change_republishes_once_per_viewer_and_no_change_publishes_nothing(home: WatchBot) -> None:
    open_home(home, ALICE)
    open_home(home, BOB)
    home.polls(4)
    assert len(publishes(home.slack)) == 2  # four polls that changed nothing published nothing

    polls_before = home.list_requests()
    home.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    both = wait_publishes(home.slack, 4)
    # Within one poll interval: the poll that saw it (and at most the one under way when it changed).
    assert home.list_requests() - polls_before <= 3
    assert sorted(c.params["user_id"] for c in both[2:]) == [ALICE, BOB]
    assert "*my-instance* · 🔵 Deploying" in all_text(both[-1].params["view"]["blocks"])
    home.polls(4)
    assert len(publishes(home.slack)) == 4


def test_operators_see_stop_and_start_and_others_do_not(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    extra = {"OPERATOR_USER_IDS": ALICE, "GCORE_PORTAL_URL": PORTAL}
    for bot in watch_bot(gcore, slack, tmp_path, process=False, extra=extra):
        gcore.put(seed_deployment(name="embedder", status="DISABLED"))
        watch_here(bot, "watch --all", "C0OPS")
        mine, theirs = open_home(bot, ALICE), open_home(bot, BOB)
        assert set(buttons(mine, "my-instance")) == {
            ActionId.DETAILS,
            ActionId.OPEN_PORTAL,
            ActionId.STOP_DEPLOYMENT,
        }
        start = buttons(mine, "embedder")[ActionId.START_DEPLOYMENT]
        assert json.loads(start["value"]) == {"project_id": PROJECT, "name": "embedder"}
        assert set(buttons(theirs, "my-instance")) == {ActionId.DETAILS, ActionId.OPEN_PORTAL}
        assert set(buttons(theirs, "embedder")) == {ActionId.DETAILS, ActionId.OPEN_PORTAL}

        # View details works from the Home tab, which has no channel and no response_url: a modal.
        published = publishes(slack, ALICE)[-1]
        echoed = {**published.params["view"], "id": "V0HOME"}
        click = home_block_action(buttons(mine, "my-instance")[ActionId.DETAILS], echoed, user_id=ALICE)
        assert bot.bot.post_signed(interactive_body(click)).status_code == 200
        opened = wait_for(lambda: slack.calls("views.open"), timeout=10, message="the details modal")
        assert opened[0].params["trigger_id"] == click["trigger_id"]
        updated = wait_for(lambda: slack.calls("views.update"), timeout=10, message="the details")
        assert "my-instance" in all_text(updated[0].params["view"]["blocks"])


def test_a_project_no_longer_allowed_is_not_shown(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> None:
    for bot in watch_bot(gcore, slack, tmp_path, process=False, extra={"ALLOWED_PROJECT_IDS": "1,2"}):
        gcore.put(seed_deployment(project_id=2, name="ranker"))
        subscribe(bot, "watch my-instance", "C0OPS")
        watch_here(bot, "watch ranker --project 2", "C0OPS")
        assert "*Project 2*" in all_text(open_home(bot, ALICE)["blocks"])

        bot.env["ALLOWED_PROJECT_IDS"] = "1"
        bot.restart()
        text = all_text(open_home(bot, ALICE)["blocks"])
        assert "*Project 1*" in text and "my-instance" in text
        assert "Project 2" not in text and "ranker" not in text


def test_a_failed_publish_for_one_viewer_does_not_stop_the_others(busy_home: WatchBot) -> None:
    home = busy_home
    open_home(home, ALICE)
    open_home(home, BOB)
    # Viewers go in order, so the failure is Alice's. Slack trouble: she is tried again after the next poll.
    home.slack.fail_next("views.publish", "internal_error")
    home.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    wait_publishes(home.slack, 2, BOB)
    alice = wait_publishes(home.slack, 3, ALICE)  # the failed one and the retry
    assert "🔵 Deploying" in all_text(alice[-1].params["view"]["blocks"])
    assert "could not publish the Home tab of U0ALICE: internal_error" in home.bot.log()

    # Slack refuses the view itself (invalid_arguments, as for any invalid view): users.info says Alice is
    # still there, so she is not forgotten.
    lookups = len(home.slack.calls("users.info"))
    home.slack.fail_next("views.publish", "invalid_arguments")
    home.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    wait_publishes(home.slack, 3, BOB)
    alice = wait_publishes(home.slack, 5, ALICE)  # the refused one and the retry after the next poll
    assert "🟢 Active" in all_text(alice[-1].params["view"]["blocks"])
    assert [c.params["user"] for c in home.slack.calls("users.info")[lookups:]] == [ALICE]

    # Alice's account is deactivated: Slack answers views.publish as documented, users.info says so, and
    # she is left out until she opens the tab again.
    home.slack.set_user(ALICE, deleted=True)
    home.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    wait_publishes(home.slack, 4, BOB)
    home.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    wait_publishes(home.slack, 5, BOB)
    home.polls(2)
    assert len(publishes(home.slack, ALICE)) == 6
    assert [c.params["user"] for c in home.slack.calls("users.info")[lookups:]] == [ALICE, ALICE]
    assert "no longer republishing the Home tab of U0ALICE" in home.bot.log()
    home.slack.set_user(ALICE, deleted=False)  # reactivated
    open_home(home, ALICE)
    home.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    wait_publishes(home.slack, 8, ALICE)
    wait_publishes(home.slack, 6, BOB)


def test_a_person_of_another_organization_sees_why_and_nothing_watched(home: WatchBot) -> None:
    guest = "U0GUEST"
    home.slack.set_user(guest, team_id="T0OTHER")
    view = open_home(home, guest)
    text = all_text(view["blocks"])
    assert "another organization" in text and "ALLOW_EXTERNAL_USERS" in text
    assert "my-instance" not in json.dumps(view)
    # Not remembered as a viewer: a change republishes nothing to them.
    home.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    home.polls(4)
    assert len(publishes(home.slack, guest)) == 1
    assert [c.params["user"] for c in home.slack.calls("users.info")] == [guest]


def test_an_error_names_its_region(home: WatchBot) -> None:
    open_home(home, ALICE)
    failing = failing_containers("CrashLoopBackOff")
    home.gcore.update(PROJECT, "my-instance", status="PARTIALLYDEPLOYED", containers=failing)
    text = all_text(wait_publishes(home.slack, 2, ALICE)[-1].params["view"]["blocks"])
    assert "⚠️ *Luxembourg-2:* CrashLoopBackOff" in text


def test_channels_outside_allowed_channel_ids_are_not_shown(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    for bot in watch_bot(gcore, slack, tmp_path, process=False):
        gcore.put(seed_deployment(name="llama-70b"))
        subscribe(bot, "watch my-instance", "C0OPS")
        watch_here(bot, "watch --all", "C0ELSE")
        text = all_text(open_home(bot, ALICE)["blocks"])
        assert "*llama-70b*" in text and "Watched in <#C0ELSE>, <#C0OPS>" in text

        bot.env["ALLOWED_CHANNEL_IDS"] = "C0OPS"
        bot.restart()
        # The round after the first poll republishes: what only #else watches is gone, and #else unnamed.
        view = wait_publishes(slack, 2, ALICE)[-1].params["view"]
        text = all_text(view["blocks"])
        assert "1 deployment watched in 1 project" in text
        assert "*my-instance*" in text and "Watched in <#C0OPS>" in text
        assert "llama-70b" not in text and "C0ELSE" not in json.dumps(view)
        assert "C0ELSE" not in json.dumps(open_home(bot, ALICE))  # opening it shows the same


def test_a_person_of_another_organization_let_in_before_is_no_longer_published_to(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    guest = "U0GUEST"
    for bot in watch_bot(gcore, slack, tmp_path, process=False, extra={"ALLOW_EXTERNAL_USERS": "true"}):
        slack.set_user(guest, team_id="T0OTHER")
        watch_here(bot, "watch my-instance", "C0OPS")
        assert "my-instance" in all_text(open_home(bot, guest)["blocks"])
        open_home(bot, ALICE)
        assert slack.calls("users.info") == []  # nobody's organization matters while they are allowed

        bot.env["ALLOW_EXTERNAL_USERS"] = "false"
        bot.restart()
        bot.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
        wait_publishes(slack, 2, ALICE)
        # The guest's list is replaced by why, and they are forgotten: later changes publish nothing to them.
        refusal = wait_publishes(slack, 2, guest)[-1].params["view"]
        text = all_text(refusal["blocks"])
        assert "another organization" in text and "my-instance" not in json.dumps(refusal)
        bot.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
        wait_publishes(slack, 3, ALICE)
        bot.polls(2)
        assert len(publishes(slack, guest)) == 2
        # One users.info for each, however many rounds: a person who passed is asked again after an hour.
        assert sorted(c.params["user"] for c in slack.calls("users.info")) == [ALICE, guest]
