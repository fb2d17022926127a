"""Operators and the audit without a bot: who is an operator (user groups over loopback HTTP, their members
kept at most 5 minutes, a failed lookup granting nothing), the audit rows' claim and reads on both
databases, the bot's own actor winning over Gcore's, and the refusals the access check records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bot.access import AccessDenied, AccessProblem, Operators
from bot.audit import AuditEntry, AuditResult, Operation
from bot.history import EpisodeActor
from bot.operations.acting import record_refusal
from bot.services import Services
from bot.slack.api import SlackApi, web_client
from bot.slack.errors import SlackCallFailed
from bot.store import Store
from tests.conftest import BOT_TOKEN
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import block_action, slash_command, view_submission

NOW = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
KEY = "0123456789abcdef0123456789abcdef"


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


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store(database_url)
    yield store
    store.close()


def entry(
    result: AuditResult, *, key: str | None = KEY, at: datetime = NOW, user: str = "U0ALICE"
) -> AuditEntry:
    return AuditEntry(
        at=at, user_id=user, action=Operation.STOP, project_id=1, name="my-instance", result=result, key=key
    )


async def test_a_key_is_claimed_once(store: Store) -> None:
    assert await store.record_audit(entry(AuditResult.PENDING))
    assert not await store.record_audit(entry(AuditResult.PENDING))
    assert await store.last_done(1, "my-instance", NOW - timedelta(minutes=2)) is None
    assert await store.last_done(1, "my-instance", NOW - timedelta(minutes=2), under_way=True) is not None
    await store.finish_audit(KEY, AuditResult.DONE)
    done = await store.last_done(1, "my-instance", NOW - timedelta(minutes=2), action=Operation.STOP)
    assert done is not None and done.result is AuditResult.DONE
    # Refusals before any confirmation carry no key: each is a row of its own.
    assert await store.record_audit(entry(AuditResult.REFUSED, key=None, user="U0BOB"))
    assert await store.record_audit(entry(AuditResult.REFUSED, key=None, user="U0BOB"))
    trail = await store.audit_trail({1})
    assert [e.result for e in trail].count(AuditResult.REFUSED) == 2 and len(trail) == 3
    assert await store.audit_trail({2}) == []
    assert len(await store.audit_trail(None, "my-instance")) == 3


async def test_an_actor_from_gcore_can_never_pass_for_a_slack_user(store: Store) -> None:
    forged = EpisodeActor(who="U0BOSS", action="slack:stop", at=NOW)
    await store.save_episode_actor(1, "my-instance", 1, forged)
    read = await store.episode_actor(1, "my-instance", 1)
    assert read is not None and not read.in_slack
    ours = EpisodeActor(who="U0ALICE", action="stop", at=NOW, in_slack=True)
    await store.save_episode_actor(1, "my-instance", 2, ours)
    assert await store.episode_actor(1, "my-instance", 2) == ours


def services(store: Store) -> Services:
    settings = SimpleNamespace(gcore_cloud_project_id=1)
    return cast(Services, SimpleNamespace(settings=settings, store=store, clock=lambda: NOW))


@pytest.mark.parametrize(
    "body",
    [
        slash_command(
            "stop my-instance", response_url="https://hooks.example/1", user_id="U0EVE", team_id="T0OTHER"
        ),
        block_action(
            "deployment.stop",
            '{"project_id":1,"name":"my-instance"}',
            response_url="https://hooks.example/1",
            user_id="U0EVE",
            team_id="T0OTHER",
        ),
        view_submission(
            {
                "id": "V1",
                "callback_id": "operation.confirm",
                "private_metadata": f'{{"project_id":1,"name":"my-instance","action":"stop","key":"{KEY}"}}',
            },
            user_id="U0EVE",
            team_id="T0OTHER",
        ),
    ],
    ids=["command", "button", "confirmation"],
)
async def test_a_start_or_stop_refused_by_the_access_check_is_audited(
    store: Store, body: dict[str, Any]
) -> None:
    await record_refusal(services(store), body, AccessDenied(AccessProblem.EXTERNAL_USER))
    (row,) = await store.audit_trail(None)
    assert (row.user_id, row.action, row.name, row.result, row.detail) == (
        "U0EVE",
        Operation.STOP,
        "my-instance",
        AuditResult.REFUSED,
        "external_user",
    )
    assert row.team_id == "T0OTHER"


@pytest.mark.parametrize(
    "body",
    [
        slash_command("status my-instance", response_url="https://hooks.example/1"),
        slash_command("stop", response_url="https://hooks.example/1"),
        block_action("deployment.refresh", "{}", response_url="https://hooks.example/1"),
        block_action("deployment.stop", "not json", response_url="https://hooks.example/1"),
        view_submission({"id": "V1", "callback_id": "other", "private_metadata": ""}),
        {"type": "event_callback"},
    ],
)
async def test_anything_else_refused_records_nothing(store: Store, body: dict[str, Any]) -> None:
    await record_refusal(services(store), body, AccessDenied(AccessProblem.CHANNEL))
    assert await store.audit_trail(None) == []
