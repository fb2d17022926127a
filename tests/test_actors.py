"""Who started an episode: the audit log read through our client, the choice of actor, the store's one
lookup per episode (on both engines), and the timeline's words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.gcore.client import USER_ACTIONS_PATH, GcoreClient
from bot.gcore.errors import GcoreAuthError
from bot.gcore.models import UserAction
from bot.history import EpisodeActor
from bot.store import Store
from bot.watch.actors import actor_of
from formatters.timeline import render_timeline
from tests.blockkit import all_text
from tests.bots import GCORE_KEY
from tests.fakes.gcore import FakeGcore, user_action_record
from tests.test_timeline_formatters import ROLLOUT

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
async def client(gcore: FakeGcore) -> AsyncIterator[GcoreClient]:
    gcore.reset()
    client = GcoreClient(gcore.url, GCORE_KEY)
    yield client
    await client.aclose()


@pytest.fixture
def store(leading_store: Store) -> Store:
    return leading_store


async def test_the_audit_log_is_asked_for_the_deployment_in_the_window_newest_first(
    client: GcoreClient, gcore: FakeGcore
) -> None:
    gcore.record_action(1, "my-instance", "create", email="bob@example.com", at=T0 - timedelta(hours=2))
    gcore.record_action(1, "my-instance", "update", at=T0 - timedelta(minutes=1))
    gcore.record_action(1, "my-instance", "stop", email="carol@example.com", at=T0 - timedelta(minutes=3))
    gcore.record_action(1, "other-one", "update", email="eve@example.com", at=T0)
    gcore.record_action(2, "my-instance", "update", email="eve@example.com", at=T0)

    actions = await client.user_actions(
        1, "my-instance", T0 - timedelta(minutes=10), T0 + timedelta(seconds=30)
    )

    assert [(a.action_type, a.email) for a in actions] == [
        ("update", "alice@example.com"),
        ("stop", "carol@example.com"),
    ]
    (request,) = [r for r in gcore.requests if r.path == USER_ACTIONS_PATH]
    assert request.query["api_group"] == "inference_at_the_edge"
    assert request.query["project_id"] == "1" and request.query["search_field"] == "my-instance"
    assert request.query["order_by"] == "desc"
    assert datetime.fromisoformat(request.query["from_timestamp"]) == T0 - timedelta(minutes=10)
    assert datetime.fromisoformat(request.query["to_timestamp"]) == T0 + timedelta(seconds=30)


async def test_a_key_that_may_not_read_the_audit_log_is_an_auth_error_at_once(
    client: GcoreClient, gcore: FakeGcore
) -> None:
    gcore.fail_next(403, path=USER_ACTIONS_PATH)
    with pytest.raises(GcoreAuthError):
        await client.user_actions(1, "my-instance", T0, T0)
    assert len([r for r in gcore.requests if r.path == USER_ACTIONS_PATH]) == 1


def test_the_actor_is_who_took_the_newest_action_before_the_episode_opened() -> None:
    def action(minutes: int, email: str | None, kind: str = "update") -> UserAction:
        record = user_action_record(
            1, "my-instance", kind, email=email, user_id=42, at=T0 + timedelta(minutes=minutes)
        )
        return UserAction.model_validate(record)

    later, alice, bob = (
        action(5, "eve@example.com"),
        action(-1, "alice@example.com"),
        action(-3, "bob@example.com"),
    )
    assert actor_of([bob, later, alice], T0) == EpisodeActor("alice@example.com", "update", alice.timestamp)
    assert actor_of([action(-1, None, "stop")], T0) == EpisodeActor(
        "user 42", "stop", T0 - timedelta(minutes=1)
    )
    assert actor_of([later], T0) is None and actor_of([], T0) is None


async def test_an_episode_is_looked_up_once_and_keeps_who_was_found(store: Store) -> None:
    assert await store.episode_actor(1, "my-instance", 5) is None
    assert await store.claim_actor_lookup(1, "my-instance", 5, T0)
    assert not await store.claim_actor_lookup(1, "my-instance", 5, T0)
    assert await store.episode_actor(1, "my-instance", 5) is None  # looked up, nobody found (yet)

    actor = EpisodeActor("alice@example.com", "update", T0 - timedelta(minutes=1))
    await store.save_episode_actor(1, "my-instance", 5, actor)
    assert await store.episode_actor(1, "my-instance", 5) == actor
    assert await store.claim_actor_lookup(1, "my-instance", 6, T0)  # another episode: its own lookup

    await store.save_thread("C1", 1, "my-instance", 5, "episode", "100.1")
    await store.save_thread("C2", 1, "my-instance", 5, "episode", "200.1")
    await store.save_thread("C2", 1, "my-instance", 5, "flapping", "300.1")
    assert sorted(await store.episode_threads(1, "my-instance", 5, "episode")) == [
        ("C1", "100.1"),
        ("C2", "200.1"),
    ]


def test_the_timeline_names_who_started_the_episode_escaped() -> None:
    plain = all_text(render_timeline(ROLLOUT, stuck_after_seconds=600).blocks)
    assert " by " not in plain

    actor = EpisodeActor("alice@example.com", "update", T0)
    named = all_text(render_timeline(ROLLOUT, stuck_after_seconds=600, actor=actor).blocks)
    assert (
        f"update by alice@example.com at <!date^{int(T0.timestamp())}^{{time}}|12:00 UTC>"
        in named.replace("2026-11-26 ", "")
    )

    sneaky = EpisodeActor("<!channel> <@U0EVE>", "scale_up", None)
    text = all_text(render_timeline(ROLLOUT, stuck_after_seconds=600, compact=True, actor=sneaky).blocks)
    assert "scale up by &lt;" in text and "<!channel>" not in text and "<@U0EVE>" not in text
