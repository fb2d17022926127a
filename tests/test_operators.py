"""Operators by user group, over loopback HTTP against the Slack fake: each group on its own, one lookup at
a time, a failure neither granting anything nor being asked again at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, cast

import pytest

from bot.access import Operators
from bot.access.operators import FAILED_LOOKUP_SECONDS
from bot.slack.api import SlackApi, web_client
from bot.slack.errors import SlackCallFailed
from tests.bots import BOT_TOKEN
from tests.fakes.slack import FakeSlack


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_slack(slack: FakeSlack) -> Iterator[FakeSlack]:
    slack.clear()
    yield slack
    slack.clear()


async def test_a_group_member_is_an_operator_until_removed_and_the_cache_expires(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.set_usergroup("S0OPS", ["U0CAROL"])
    clock = Clock()
    api = SlackApi(web_client(BOT_TOKEN, fake_slack.api_url, for_alerts=False))
    operators = Operators(api, ["U0ALICE"], ["S0OPS"], clock=clock)
    assert operators.enabled
    assert await operators.includes("U0ALICE")
    assert await operators.includes("U0CAROL")
    assert not await operators.includes("U0BOB")
    fake_slack.set_usergroup("S0OPS", [])
    clock.now += 299
    assert await operators.includes("U0CAROL")  # still within the 5 minutes
    assert len(fake_slack.calls("usergroups.users.list")) == 1
    clock.now += 2
    assert not await operators.includes("U0CAROL")
    assert len(fake_slack.calls("usergroups.users.list")) == 2


async def test_a_failed_group_lookup_grants_nothing(fake_slack: FakeSlack) -> None:
    api = SlackApi(web_client(BOT_TOKEN, fake_slack.api_url, for_alerts=False))
    operators = Operators(api, [], ["S0GONE"], clock=Clock())
    with pytest.raises(SlackCallFailed):
        await operators.includes("U0CAROL")
    assert fake_slack.calls("usergroups.users.list")[0].params["usergroup"] == "S0GONE"


def test_with_neither_setting_nobody_is_an_operator() -> None:
    assert not Operators(cast(Any, None), [], []).enabled


def operators(slack: FakeSlack, groups: list[str], clock: Clock) -> Operators:
    return Operators(
        SlackApi(web_client(BOT_TOKEN, slack.api_url, for_alerts=False)), [], groups, clock=clock
    )


def lookups(slack: FakeSlack, group: str) -> int:
    return sum(1 for c in slack.calls("usergroups.users.list") if c.params["usergroup"] == group)


async def test_a_group_that_cannot_be_read_leaves_the_others_counting(fake_slack: FakeSlack) -> None:
    fake_slack.set_usergroup("S0OPS", ["U0CAROL"])
    ops = operators(fake_slack, ["S0GONE", "S0OPS"], Clock())
    assert await ops.includes("U0CAROL")
    # Bob is in no group that could be read, and one could not: whether he is an operator is unknown.
    with pytest.raises(SlackCallFailed):
        await ops.includes("U0BOB")


async def test_a_failed_lookup_is_not_repeated_at_once(fake_slack: FakeSlack) -> None:
    clock = Clock()
    ops = operators(fake_slack, ["S0OPS"], clock)
    for _ in range(3):
        with pytest.raises(SlackCallFailed):
            await ops.includes("U0CAROL")
    assert lookups(fake_slack, "S0OPS") == 1
    fake_slack.set_usergroup("S0OPS", ["U0CAROL"])
    clock.now += FAILED_LOOKUP_SECONDS
    assert await ops.includes("U0CAROL")
    assert lookups(fake_slack, "S0OPS") == 2


async def test_members_past_five_minutes_are_not_trusted_when_slack_cannot_confirm_them(
    fake_slack: FakeSlack,
) -> None:
    clock = Clock()
    fake_slack.set_usergroup("S0OPS", ["U0CAROL"])
    ops = operators(fake_slack, ["S0OPS"], clock)
    assert await ops.includes("U0CAROL")
    fake_slack.set_usergroup("S0OPS", None)
    clock.now += 301
    with pytest.raises(SlackCallFailed):
        await ops.includes("U0CAROL")


async def test_people_asking_at_once_share_one_lookup(fake_slack: FakeSlack) -> None:
    fake_slack.set_usergroup("S0OPS", ["U0CAROL"])
    fake_slack.set_delay("usergroups.users.list", 0.3)
    ops = operators(fake_slack, ["S0OPS"], Clock())
    answers = await asyncio.gather(*(ops.includes(user) for user in ["U0CAROL", "U0BOB"] * 5))
    assert answers == [True, False] * 5
    assert lookups(fake_slack, "S0OPS") == 1
