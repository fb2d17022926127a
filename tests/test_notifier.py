"""The notifier's placement of alerts and its reconciliation after a restart, against an in-memory Web API.

No server: ``FakeWebApi`` keeps the channel's messages as Slack would (threads, edits, metadata) and
answers history lookups, so each rule shows in what the channel holds afterwards.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.health import Health
from bot.slack.errors import SlackCallFailed, SlackFailure, SlackFailureKind
from bot.store import Store
from bot.watch.notifier import METADATA_EVENT, Notifier
from bot.watch.subscriptions import ALL_DEPLOYMENTS
from bot.watch.transitions import AlertKind, ProjectDiff, Snapshot, Transition
from tests.blockkit import all_text
from tests.databases import sqlite_url

CHANNEL = "C0OPS"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class FakeWebApi:
    """Slack's Web API in memory: posts, threads, edits and history with metadata."""

    def __init__(self) -> None:
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse: dict[str, str] = {}  # method -> error code, for messages longer than refuse_over
        self.refuse_over = 0
        self._ts = itertools.count(1)

    async def paced(
        self,
        method: str,
        channel_id: str,
        *,
        before: Callable[[], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> Any:
        # No pacing here: the rules under test are where messages go, not when.
        if before is not None:
            await before()
        return await self.call(method, **kwargs)

    async def call(self, method: str, **kwargs: Any) -> Any:
        self.calls.append((method, kwargs))
        if method in self.refuse and len(str(kwargs.get("blocks"))) > self.refuse_over:
            raise SlackCallFailed(SlackFailure(SlackFailureKind.REJECTED, self.refuse[method]))
        channel = kwargs.get("channel", "")
        stored = self.messages.setdefault(channel, [])
        if method == "chat_postMessage":
            message = {**kwargs, "ts": f"1700000000.{next(self._ts):06d}"}
            stored.append(message)
            return {"ok": True, "ts": message["ts"]}
        if method == "chat_update":
            target = next(m for m in stored if m["ts"] == kwargs["ts"])
            target.update(text=kwargs["text"], blocks=kwargs["blocks"], edited=True)
            return {"ok": True, "ts": kwargs["ts"]}
        if method == "conversations_history":
            top = [m for m in stored if not m.get("thread_ts")]
            return {"ok": True, "messages": top, "response_metadata": {"next_cursor": ""}}
        if method == "conversations_replies":
            thread = [m for m in stored if m["ts"] == kwargs["ts"] or m.get("thread_ts") == kwargs["ts"]]
            return {"ok": True, "messages": thread, "response_metadata": {"next_cursor": ""}}
        raise AssertionError(f"unexpected call {method}")

    def top_level(self) -> list[dict[str, Any]]:
        return [m for m in self.messages.get(CHANNEL, []) if not m.get("thread_ts")]

    def replies(self, parent_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.get(CHANNEL, []) if m.get("thread_ts") == parent_ts]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(sqlite_url(tmp_path))
    yield store
    store.close()


@pytest.fixture
def slack() -> FakeWebApi:
    return FakeWebApi()


def notifier(slack: FakeWebApi, store: Store) -> Notifier:
    return Notifier(slack, store, Health(), clock=lambda: NOW, stuck_after_seconds=900)


ONCALL = "<!subteam^S0ONCALL>"


async def record(
    store: Store, *transitions: Transition, flat: bool = False, notify: tuple[str, ...] = (ONCALL,)
) -> None:
    await store.subscribe(
        channel_id=CHANNEL,
        project_id=1,
        target=ALL_DEPLOYMENTS,
        only_problems=False,
        flat=flat,
        created_by="U0ALICE",
        now=NOW,
        notify=notify,
    )
    await store.record_poll(1, ProjectDiff(transitions=list(transitions)), [], NOW)


def change(
    old: str,
    new: str,
    *,
    kind: AlertKind = AlertKind.CHANGED,
    episode: int = 1,
    minute: int = 0,
    error: str = "",
    **fields: Any,
) -> Transition:
    errors = ((100, error),) if error else ()
    snapshot = Snapshot(
        name="my-instance", status=new, ready=0 if error else 1, total=1, min_ready=1, errors=errors
    )
    at = NOW + timedelta(minutes=minute)
    return Transition(1, "my-instance", kind, at, old, new, snapshot, episode, **fields)


def pinged(message: dict[str, Any]) -> bool:
    return ONCALL in message["text"] or ONCALL in all_text(message["blocks"])


async def test_a_rollout_is_one_timeline_that_keeps_every_step(slack: FakeWebApi, store: Store) -> None:
    await record(
        store,
        change("ACTIVE", "DEPLOYING"),
        change("DEPLOYING", "PARTIALLYDEPLOYED", minute=1, error="OOMKilled", problem=True),
        change("PARTIALLYDEPLOYED", "ACTIVE", minute=4, problem=True, recovery=True),
    )
    assert await notifier(slack, store).deliver_open() == 3
    (parent,) = slack.top_level()
    story = all_text(parent["blocks"])
    for step in [
        "🟢 Active → 🔵 Deploying",
        "🔵 Deploying → 🟡 Partially deployed",
        "OOMKilled",
        "→ 🟢 Active",
    ]:
        assert step in story
    assert "✅ recovered after 4 min" in story and story.startswith("✅ *my-instance* is 🟢 Active")
    assert any(b["type"] == "actions" for b in parent["blocks"])
    # The rollout's start was routine: its top-level post pinged no one. The error and the recovery
    # reached the channel as broadcast replies naming the owners; replies carry no buttons.
    error, recovery = slack.replies(parent["ts"])
    assert (error["reply_broadcast"], recovery["reply_broadcast"]) == (True, True)
    assert pinged(error) and pinged(recovery) and not pinged(parent)
    assert not any(b["type"] == "actions" for m in (error, recovery) for b in m["blocks"])


async def test_routine_steps_stay_in_the_thread_and_mention_no_one(slack: FakeWebApi, store: Store) -> None:
    await record(store, change("ACTIVE", "DEPLOYING"), change("DEPLOYING", "ACTIVE", minute=3))
    await notifier(slack, store).deliver_open()
    (parent,) = slack.top_level()
    (step,) = slack.replies(parent["ts"])
    assert step["reply_broadcast"] is False and not pinged(step) and not pinged(parent)
    assert "✅ rolled out in 3 min" in all_text(parent["blocks"])


async def test_each_run_of_trouble_wakes_people_at_its_first_problem_and_its_recovery(
    slack: FakeWebApi, store: Store
) -> None:
    await record(
        store,
        change("ACTIVE", "PARTIALLYDEPLOYED", error="OOMKilled", problem=True),
        change("PARTIALLYDEPLOYED", "PARTIALLYDEPLOYED", kind=AlertKind.STUCK, minute=15, problem=True),
        change("PARTIALLYDEPLOYED", "ACTIVE", minute=16, problem=True, recovery=True),
        change("ACTIVE", "PARTIALLYDEPLOYED", minute=18, error="OOMKilled", problem=True),
    )
    await notifier(slack, store).deliver_open()
    (parent,) = slack.top_level()
    # The episode began with its problem: the post of the timeline woke the owners (later edits, which
    # notify no one, keep naming them only while it is failing).
    posted = next(kwargs for method, kwargs in slack.calls if method == "chat_postMessage")
    assert pinged(posted)
    # Still failing (stuck): routine. Recovered: told. Failing again: a new run, told again.
    replies = slack.replies(parent["ts"])
    assert [r["reply_broadcast"] for r in replies] == [False, True, True]
    assert [pinged(r) for r in replies] == [False, True, True]


async def test_flat_subscriptions_post_every_alert_to_the_channel(slack: FakeWebApi, store: Store) -> None:
    await record(store, change("ACTIVE", "DEPLOYING"), change("DEPLOYING", "ACTIVE"), flat=True)
    await notifier(slack, store).deliver_open()
    assert len(slack.top_level()) == 2 and all(not slack.replies(m["ts"]) for m in slack.top_level())
    assert not any(pinged(m) for m in slack.top_level())


async def test_flapping_is_told_on_the_episodes_timeline(slack: FakeWebApi, store: Store) -> None:
    first = change("ACTIVE", "DEPLOYING")
    flapping = change("DEPLOYING", "ACTIVE", kind=AlertKind.FLAPPING, minute=1, flap_count=5, problem=True)
    again = replace(
        flapping, old_status="ACTIVE", new_status="DEPLOYING", flap_count=6, at=NOW + timedelta(minutes=2)
    )
    stable = replace(
        flapping,
        kind=AlertKind.STABLE,
        old_status="DEPLOYING",
        new_status="ACTIVE",
        at=NOW + timedelta(minutes=12),
    )
    await record(store, first, flapping, again, stable)
    await notifier(slack, store).deliver_open()
    (message,) = slack.top_level()
    story = all_text(message["blocks"])
    assert "🔁 flapping: 5 changes" in story and "🔁 flapping: 6 changes" in story and "stable again" in story
    # Flapping starting and ending woke people; the flip between is a quiet reply.
    replies = slack.replies(message["ts"])
    assert [r["reply_broadcast"] for r in replies] == [True, False, True]
    assert "is flapping" in all_text(replies[0]["blocks"]) and "is stable again" in all_text(
        replies[2]["blocks"]
    )


async def test_sleeping_and_waking_is_one_digest_a_day(slack: FakeWebApi, store: Store) -> None:
    cycles = []
    for i in range(3):
        cycles.append(change("ACTIVE", "PENDING", episode=0, minute=10 * i))
        cycles.append(change("PENDING", "ACTIVE", episode=0, minute=10 * i + 5))
    await record(store, *cycles)
    await notifier(slack, store).deliver_open()
    (digest,) = slack.top_level()
    assert "slept 3× today · now ☀️ awake" in all_text(digest["blocks"])
    assert not slack.replies(digest["ts"]) and not pinged(digest)


async def test_a_post_made_before_a_restart_is_found_not_posted_again(
    slack: FakeWebApi, store: Store
) -> None:
    await record(store, change("ACTIVE", "DEPLOYING"))
    (job,) = await store.open_deliveries()
    # The previous run claimed it and Slack stored its post, but the run died before hearing the ts.
    assert await store.claim_delivery(job.id, NOW, thread_ts=None)
    metadata = {"event_type": METADATA_EVENT, "event_payload": {"delivery_id": job.id}}
    await slack.call("chat_postMessage", channel=CHANNEL, text="earlier", blocks=[], metadata=metadata)
    slack.calls.clear()
    assert await notifier(slack, store).deliver_open() == 1
    assert [method for method, _ in slack.calls] == ["conversations_history"]
    assert len(slack.top_level()) == 1 and await store.open_deliveries() == []


async def test_a_claimed_post_that_never_reached_slack_is_posted_once(
    slack: FakeWebApi, store: Store
) -> None:
    await record(store, change("ACTIVE", "DEPLOYING"))
    (job,) = await store.open_deliveries()
    assert await store.claim_delivery(job.id, NOW, thread_ts=None)
    await notifier(slack, store).deliver_open()
    assert [method for method, _ in slack.calls] == ["conversations_history", "chat_postMessage"]
    assert len(slack.top_level()) == 1


async def test_a_message_slack_finds_too_long_is_posted_compact(slack: FakeWebApi, store: Store) -> None:
    await record(store, change("ACTIVE", "DEPLOYING"))
    slack.refuse, slack.refuse_over = {"chat_postMessage": "msg_too_long"}, 400
    assert await notifier(slack, store).deliver_open() == 1
    (message,) = slack.top_level()
    assert [b["type"] for b in message["blocks"]] == ["section", "context"]
    assert "*my-instance* changed: 🟢 Active → 🔵 Deploying" in all_text(message["blocks"])


async def test_a_timeline_that_can_no_longer_be_edited_stalls_nothing(
    slack: FakeWebApi, store: Store
) -> None:
    await record(store, change("ACTIVE", "DEPLOYING"))
    await notifier(slack, store).deliver_open()
    (deleted,) = slack.top_level()
    # Someone deleted the timeline: Slack refuses every edit of it.
    slack.refuse, slack.refuse_over = {"chat_update": "message_not_found"}, 0
    await store.record_poll(1, ProjectDiff(transitions=[change("DEPLOYING", "ACTIVE", minute=2)]), [], NOW)
    assert await notifier(slack, store).deliver_open() == 1
    (reply,) = slack.replies(deleted["ts"])  # the step itself went out, once
    assert "🔵 Deploying → 🟢 Active" in all_text(reply["blocks"]) and await store.open_deliveries() == []
    # The next step of the episode starts a new timeline instead of editing the lost one.
    slack.refuse = {}
    await store.record_poll(1, ProjectDiff(transitions=[change("ACTIVE", "DISABLED", minute=3)]), [], NOW)
    await notifier(slack, store).deliver_open()
    assert len(slack.top_level()) == 2 and "⚪ Disabled" in all_text(slack.top_level()[1]["blocks"])
