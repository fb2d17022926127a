"""The audit without a bot (operators are tests/test_operators.py): the audit rows' claim and reads on both
databases (the 2-minute guard decided by the claim, even for claims at once), the response_urls kept out of
the modal, when the bot's own actor wins over Gcore's, and the refusals the access check records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bot.access import AccessDenied, AccessProblem
from bot.audit import AuditEntry, AuditResult, Operation
from bot.history import EpisodeActor
from bot.operations.acting import record_refusal
from bot.services import Services
from bot.store import Store
from bot.store.audit import Claim
from bot.watch.actors import led_to
from tests.fakes.slack_requests import block_action, slash_command, view_submission

NOW = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store(database_url)
    yield store
    store.close()


def entry(
    result: AuditResult,
    *,
    key: str | None = KEY,
    at: datetime = NOW,
    user: str = "U0ALICE",
    action: Operation = Operation.STOP,
) -> AuditEntry:
    return AuditEntry(
        at=at, user_id=user, action=action, project_id=1, name="my-instance", result=result, key=key
    )


SINCE = NOW - timedelta(minutes=2)


def key(n: int) -> str:
    return f"{n:032x}"


async def test_a_key_is_claimed_once(store: Store) -> None:
    assert await store.claim_action(entry(AuditResult.PENDING), SINCE) == Claim()
    assert await store.claim_action(entry(AuditResult.PENDING), SINCE) == Claim(taken=True)
    assert await store.last_done(1, "my-instance", SINCE) is None  # under way: not done yet
    await store.finish_audit(KEY, AuditResult.DONE)
    done = await store.last_done(1, "my-instance", SINCE, action=Operation.STOP)
    assert done is not None and done.result is AuditResult.DONE
    # Refusals before any confirmation carry no key: each is a row of its own.
    assert await store.record_audit(entry(AuditResult.REFUSED, key=None, user="U0BOB"))
    assert await store.record_audit(entry(AuditResult.REFUSED, key=None, user="U0BOB"))
    trail = await store.audit_trail({1})
    assert [e.result for e in trail].count(AuditResult.REFUSED) == 2 and len(trail) == 3
    assert await store.audit_trail({2}) == []
    assert len(await store.audit_trail(None, "my-instance")) == 3


async def test_the_latest_action_on_the_deployment_decides_whether_a_claim_goes_ahead(store: Store) -> None:
    """Stop, start, stop within two minutes: each goes ahead; a second stop after the last is refused,
    naming it, and so is one after a stop whose answer was lost."""
    assert await store.claim_action(entry(AuditResult.PENDING, key=key(1)), SINCE) == Claim()
    await store.finish_audit(key(1), AuditResult.DONE)
    start = entry(AuditResult.PENDING, key=key(2), action=Operation.START)
    assert await store.claim_action(start, SINCE) == Claim()
    await store.finish_audit(key(2), AuditResult.DONE)
    assert await store.claim_action(entry(AuditResult.PENDING, key=key(3)), SINCE) == Claim()
    await store.finish_audit(key(3), AuditResult.UNKNOWN, "http:502")
    refused = await store.claim_action(entry(AuditResult.PENDING, key=key(4), user="U0CAROL"), SINCE)
    assert refused.earlier is not None and refused.earlier.key == key(3)
    assert refused.earlier.result is AuditResult.UNKNOWN
    (latest, *_) = await store.audit_trail(None)
    assert (latest.key, latest.result, latest.detail) == (key(4), AuditResult.REFUSED, "recently_done")
    # Past the window the same action goes ahead again; a failed one never counted.
    later = NOW + timedelta(minutes=3)
    assert (
        await store.claim_action(
            entry(AuditResult.PENDING, key=key(5), at=later), later - timedelta(minutes=2)
        )
        == Claim()
    )


async def test_of_two_claims_at_once_exactly_one_goes_ahead(store: Store) -> None:
    for round_ in range(5):
        claims = [
            entry(AuditResult.PENDING, key=key(10 * round_ + i), at=NOW + timedelta(hours=round_))
            for i in range(4)
        ]
        since = NOW + timedelta(hours=round_) - timedelta(minutes=2)
        results = await asyncio.gather(*(store.claim_action(c, since) for c in claims))
        assert sum(1 for r in results if r == Claim()) == 1, results


async def test_a_response_url_is_taken_once_and_not_kept_past_its_life(store: Store) -> None:
    assert await store.keep_response_url(key(1), "https://hooks.slack.com/actions/T/1/a", NOW)
    assert (
        await store.take_response_url(key(1), NOW + timedelta(minutes=5))
        == "https://hooks.slack.com/actions/T/1/a"
    )
    assert await store.take_response_url(key(1), NOW + timedelta(minutes=5)) is None
    assert await store.keep_response_url(key(2), "https://hooks.slack.com/actions/T/1/b", NOW)
    assert await store.take_response_url(key(2), NOW + timedelta(minutes=31)) is None
    # Each insert prunes those past their life.
    assert await store.keep_response_url(key(3), "https://hooks.slack.com/actions/T/1/c", NOW)
    assert await store.keep_response_url(
        key(4), "https://hooks.slack.com/actions/T/1/d", NOW + timedelta(minutes=31)
    )
    assert await store.take_response_url(key(3), NOW) is None
    assert not await store.keep_response_url(key(5), "https://x/" + "a" * 3000, NOW)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("DISABLED", Operation.STOP),
        ("ACTIVE", Operation.START),
        ("DEPLOYING", Operation.START),
        ("DELETING", None),
        ("SOMETHING_NEW", None),
        (None, None),
    ],
)
def test_an_episode_is_put_down_to_a_slack_action_only_when_it_is_what_that_action_leads_to(
    status: str | None, action: Operation | None
) -> None:
    assert led_to(status) is action


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
