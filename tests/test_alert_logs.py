"""Log lines on problem alerts: which alerts ask Gcore for them, what a slow or failing Gcore costs (nothing
but the lines), and where they land in the channel, once, even when a delivery is planned again after a
crash. Against an in-memory Web API and log source; the end-to-end story is in test_e2e_alert_logs.py."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.gcore.errors import DeploymentNotFound, GcoreUnavailable
from bot.gcore.models import LogEntry
from bot.health import Health
from bot.slack.errors import SlackCallFailed, SlackFailure, SlackFailureKind
from bot.store import DeliveryState, Store
from bot.watch.logs import AlertLogs
from bot.watch.notifier import FOLLOW_UP_EVENT, METADATA_EVENT, Notifier
from bot.watch.placement import Placement
from bot.watch.transitions import AlertKind, Snapshot, Transition
from tests.blockkit import all_text, limit_problems
from tests.test_notifier import CHANNEL, NOW, FakeWebApi, change, record
from tests.test_notifier import slack as slack  # the fixtures
from tests.test_notifier import store as store

ERRORED = change("ACTIVE", "PARTIALLYDEPLOYED", error="OOMKilled", problem=True)


class FakeLogs:
    """The logs endpoint in memory: its lines newest first, every request kept, and a way to fail."""

    def __init__(self, *messages: str) -> None:
        # Given oldest first, answered newest first as Gcore does with order_by=time.desc.
        self.entries = [
            LogEntry(message=m, region_id=100, time=f"2026-11-26T11:59:{i:02d}Z")
            for i, m in enumerate(messages)
        ][::-1]
        self.asked: list[tuple[int, str, int, int | None]] = []
        self.error: Exception | None = None
        self.delay = 0.0

    async def get_logs(
        self, project_id: int, name: str, *, limit: int = 50, offset: int = 0, region_id: int | None = None
    ) -> list[LogEntry]:
        self.asked.append((project_id, name, limit, region_id))
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.entries[:limit]


def notifier(slack: FakeWebApi, store: Store, logs: FakeLogs, lines: int = 5) -> Notifier:
    placement = Placement(store, 900, AlertLogs(logs, lines) if lines else None)
    return Notifier(slack, store, Health(), clock=lambda: NOW, stuck_after_seconds=900, placement=placement)


def broadcast(slack: FakeWebApi) -> list[dict[str, object]]:
    return [m for m in slack.messages.get(CHANNEL, []) if m.get("reply_broadcast")]


# -- which alerts ask, and for which region ------------------------------------------------------------


async def test_problems_ask_for_their_region_and_nothing_else_asks() -> None:
    logs = FakeLogs("one")
    alerts = AlertLogs(logs, 5)
    degraded_snapshot = Snapshot(name="my-instance", status="ACTIVE", ready=1, total=3, min_ready=2)
    degraded = Transition(1, "my-instance", AlertKind.DEGRADED, NOW, "ACTIVE", "ACTIVE", degraded_snapshot, 1)
    stuck = change("DEPLOYING", "DEPLOYING", kind=AlertKind.STUCK, problem=True)
    for problem in (ERRORED, degraded, stuck):
        assert [e.message for e in await alerts.for_alert(problem)] == ["one"]
    assert logs.asked == [
        (1, "my-instance", 5, 100),
        (1, "my-instance", 5, None),
        (1, "my-instance", 5, None),
    ]
    quiet = [
        change("ACTIVE", "DEPLOYING"),
        change("PARTIALLYDEPLOYED", "ACTIVE", problem=True, recovery=True),
        change("ACTIVE", "ACTIVE", kind=AlertKind.DELETED, problem=True),
        change("ACTIVE", "PARTIALLYDEPLOYED", kind=AlertKind.FLAPPING, problem=True, error="x"),
        Transition(1, "", AlertKind.GCORE_UNREACHABLE, NOW, problem=True),
    ]
    for routine in quiet:
        assert await alerts.for_alert(routine) == []
    assert len(logs.asked) == 3
    assert await AlertLogs(logs, 0).for_alert(ERRORED) == [] and len(logs.asked) == 3


async def test_a_slow_gcore_costs_the_lines_and_no_more_than_the_timeout() -> None:
    logs = FakeLogs("one")
    logs.delay = 10
    started = time.monotonic()
    assert await AlertLogs(logs, 5, timeout_seconds=0.1).for_alert(ERRORED) == []
    assert time.monotonic() - started < 2


async def test_failures_are_logged_once_per_deployment_and_cause_without_what_gcore_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logs = FakeLogs("one")
    alerts = AlertLogs(logs, 5)
    caplog.set_level(logging.WARNING, logger="bot.watch.logs")
    logs.error = GcoreUnavailable("HTTP 500 on GET /logs: APIKey sekrit-from-a-bad-proxy", 500)
    for _ in range(3):
        assert await alerts.for_alert(ERRORED) == []
    logs.error = DeploymentNotFound(1, "my-instance")
    assert await alerts.for_alert(ERRORED) == []
    logs.error = ValueError("a bug of ours")
    assert await alerts.for_alert(ERRORED) == []
    causes = [r.getMessage().rsplit(": ", 1)[-1] for r in caplog.records]
    assert causes == ["http:500", "not_found", "ValueError"]
    assert "sekrit" not in caplog.text
    assert caplog.records[-1].exc_info and not caplog.records[0].exc_info
    # Once the logs answer again, a later failure is news again.
    logs.error = None
    assert await alerts.for_alert(ERRORED) != []
    logs.error = GcoreUnavailable("HTTP 500", 500)
    await alerts.for_alert(ERRORED)
    assert len(caplog.records) == 4


# -- where the lines land -------------------------------------------------------------------------------


async def test_an_episodes_first_problem_gets_its_lines_in_a_quiet_reply_under_the_timeline(
    slack: FakeWebApi, store: Store
) -> None:
    logs = FakeLogs("started", "<!channel> oops", "OOM")
    await record(store, ERRORED)
    assert await notifier(slack, store, logs).deliver_open() == 1
    (timeline,) = slack.top_level()
    assert "📜" not in all_text(timeline["blocks"])
    (reply,) = slack.replies(timeline["ts"])
    text = all_text(reply["blocks"])
    assert text.index("started") < text.index("oops") < text.index("OOM")
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert not reply.get("reply_broadcast") and reply["metadata"]["event_type"] == FOLLOW_UP_EVENT
    assert not limit_problems(reply["blocks"], reply["text"])


async def test_a_later_problem_that_wakes_people_carries_its_lines_and_a_routine_one_asks_nothing(
    slack: FakeWebApi, store: Store
) -> None:
    logs = FakeLogs("pulling", "OOM")
    await record(
        store,
        change("ACTIVE", "DEPLOYING"),
        change("DEPLOYING", "PARTIALLYDEPLOYED", minute=1, error="OOMKilled", problem=True),
        change("PARTIALLYDEPLOYED", "PARTIALLYDEPLOYED", kind=AlertKind.STUCK, minute=15, problem=True),
    )
    assert await notifier(slack, store, logs).deliver_open() == 3
    (timeline,) = slack.top_level()
    woke, stuck = slack.replies(timeline["ts"])
    assert woke["reply_broadcast"] and "pulling\n" in all_text(woke["blocks"])
    assert not stuck["reply_broadcast"] and "📜" not in all_text(stuck["blocks"])
    assert logs.asked == [(1, "my-instance", 5, 100)]  # the routine stuck step asked nothing


async def test_flat_problem_alerts_carry_their_lines(slack: FakeWebApi, store: Store) -> None:
    logs = FakeLogs("OOM")
    await record(store, ERRORED, flat=True)
    await notifier(slack, store, logs).deliver_open()
    (alert,) = slack.top_level()
    assert "📜 *Last 1 log line* from region 100" in all_text(alert["blocks"])
    assert not slack.replies(alert["ts"])


@pytest.mark.parametrize("flat", [False, True])
async def test_with_gcore_failing_the_alert_goes_out_as_before(
    slack: FakeWebApi, store: Store, flat: bool
) -> None:
    logs = FakeLogs("OOM")
    logs.error = GcoreUnavailable("HTTP 500", 500)
    await record(store, ERRORED, flat=flat)
    assert await notifier(slack, store, logs).deliver_open() == 1
    (alert,) = slack.messages[CHANNEL]
    assert "OOMKilled" in all_text(alert["blocks"]) and "📜" not in all_text(alert["blocks"])
    assert len(logs.asked) == 1 and await store.open_deliveries() == []


async def test_a_refused_reply_loses_the_lines_not_the_alert(slack: FakeWebApi, store: Store) -> None:
    await record(store, ERRORED)
    real_call = slack.call

    async def refuse_replies(method: str, **kwargs: object) -> object:
        if kwargs.get("thread_ts"):
            raise SlackCallFailed(SlackFailure(SlackFailureKind.REJECTED, "invalid_blocks"))
        return await real_call(method, **kwargs)

    slack.call = refuse_replies  # type: ignore[method-assign]
    assert await notifier(slack, store, FakeLogs("OOM")).deliver_open() == 1
    assert len(slack.top_level()) == 1 and await store.open_deliveries() == []


# -- planned again after a crash -------------------------------------------------------------------------


async def _posted_but_not_done(slack: FakeWebApi, store: Store, *, with_reply: bool) -> str:
    """A delivery whose timeline a previous run posted (and, ``with_reply``, replied under) before dying."""
    await record(store, ERRORED)
    (job,) = await store.open_deliveries()
    assert await store.claim_delivery(job.id, NOW, thread_ts=None)
    metadata = {"event_type": METADATA_EVENT, "event_payload": {"delivery_id": job.id}}
    posted = await slack.call("chat_postMessage", channel=CHANNEL, text="t", blocks=[], metadata=metadata)
    await store.mark_delivery(job.id, DeliveryState.POSTED, NOW, ts=posted["ts"])
    if with_reply:
        metadata = {"event_type": FOLLOW_UP_EVENT, "event_payload": {"delivery_id": job.id}}
        await slack.call(
            "chat_postMessage",
            channel=CHANNEL,
            thread_ts=posted["ts"],
            text="r",
            blocks=[],
            metadata=metadata,
        )
    slack.calls.clear()
    return str(posted["ts"])


async def test_planned_again_after_the_reply_went_out_it_is_not_posted_again(
    slack: FakeWebApi, store: Store
) -> None:
    ts = await _posted_but_not_done(slack, store, with_reply=True)
    logs = FakeLogs("OOM")
    assert await notifier(slack, store, logs).deliver_open() == 1
    assert len(logs.asked) == 1  # the plan fetched again, harmlessly
    assert [method for method, _ in slack.calls] == ["conversations_replies"]
    assert len(slack.replies(ts)) == 1 and await store.open_deliveries() == []


async def test_planned_again_before_the_reply_went_out_it_is_posted_once(
    slack: FakeWebApi, store: Store
) -> None:
    ts = await _posted_but_not_done(slack, store, with_reply=False)
    assert await notifier(slack, store, FakeLogs("OOM")).deliver_open() == 1
    assert [method for method, _ in slack.calls] == ["conversations_replies", "chat_postMessage"]
    (reply,) = slack.replies(ts)
    assert "OOM" in all_text(reply["blocks"]) and broadcast(slack) == []
