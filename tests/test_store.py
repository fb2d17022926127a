"""The store, the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from bot.gcore.models import DeploymentStatusView
from bot.store import DatabaseInUse, DeliveryState, NotLeader, Store
from bot.store.leadership import SERVER_KEEPALIVES, Leases
from bot.watch.subscriptions import ALL_DEPLOYMENTS, SubscribeOutcome, Subscription
from bot.watch.transitions import STATUS_MAX_CHARS, AlertKind, ProjectDiff, Snapshot, Tracked, Transition
from tests.databases import (
    leader_pid,
    lease_holders,
    sqlite_url,
    terminate_leader_session,
    terminate_lease_holder,
)
from tests.fakes.server import wait_for

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(leading_store: Store) -> Store:
    return leading_store


async def subscribe(store: Store, channel: str, target: str, *, only_problems: bool = False) -> None:
    await store.subscribe(
        channel_id=channel,
        project_id=1,
        target=target,
        only_problems=only_problems,
        flat=False,
        created_by="U0ALICE",
        now=NOW,
    )


def changed(name: str, old: str, new: str, *, problem: bool = False) -> Transition:
    return Transition(
        project_id=1,
        name=name,
        kind=AlertKind.CHANGED,
        at=NOW,
        old_status=old,
        new_status=new,
        snapshot=Snapshot(name=name, status=new, ready=0, total=1, errors=((1, "boom"),) if problem else ()),
        episode=1,
        problem=problem,
    )


async def test_subscribe_outcomes(store: Store) -> None:
    async def watch(
        *, only_problems: bool = False, flat: bool = False
    ) -> tuple[Subscription, SubscribeOutcome]:
        return await store.subscribe(
            channel_id="C1",
            project_id=1,
            target="my-instance",
            only_problems=only_problems,
            flat=flat,
            created_by="U1",
            now=NOW,
        )

    first, outcome = await watch()
    assert outcome is SubscribeOutcome.CREATED
    assert (await watch())[1] is SubscribeOutcome.UNCHANGED
    updated, outcome = await watch(only_problems=True, flat=True)
    assert outcome is SubscribeOutcome.UPDATED and updated.only_problems and updated.flat
    paused = await store.pause_channel("C1", "is_archived")
    assert [s.paused_reason for s in paused] == ["is_archived"]
    assert (await store.channel_subscriptions("C1"))[0].paused_reason == "is_archived"
    assert await store.watched_projects() == []
    assert (await watch())[1] is SubscribeOutcome.RESUMED
    assert await store.watched_projects() == [1]
    assert first.id == updated.id


async def test_poll_fans_out_once_per_channel_and_honours_only_problems(store: Store) -> None:
    await subscribe(store, "C-named", "my-instance")
    await subscribe(store, "C-named", ALL_DEPLOYMENTS, only_problems=True)
    await subscribe(store, "C-problems", ALL_DEPLOYMENTS, only_problems=True)
    await subscribe(store, "C-other", "other-one")
    tracked = {"my-instance": Tracked(snapshot=Snapshot(name="my-instance", status="DEPLOYING"))}
    diff = ProjectDiff(tracked=tracked, transitions=[changed("my-instance", "ACTIVE", "DEPLOYING")])
    await store.record_poll(1, diff, ["my-instance"], NOW)
    jobs = await store.open_deliveries()
    # The named subscription wins over the channel's --all; --only problems skips a routine change.
    assert [job.channel_id for job in jobs] == ["C-named"]
    assert jobs[0].state is DeliveryState.PENDING
    assert jobs[0].transition.new_status == "DEPLOYING"

    problem = ProjectDiff(
        tracked=tracked, transitions=[changed("my-instance", "DEPLOYING", "PARTIALLYDEPLOYED", problem=True)]
    )
    await store.record_poll(1, problem, [], NOW)
    partial = [
        job.channel_id
        for job in await store.open_deliveries()
        if job.transition.new_status == "PARTIALLYDEPLOYED"
    ]
    assert partial == ["C-named", "C-problems"]


async def test_states_round_trip_and_baseline(store: Store) -> None:
    assert await store.load_project(1) == ({}, None)
    await subscribe(store, "C1", ALL_DEPLOYMENTS)
    tracked = Tracked(
        snapshot=Snapshot(
            name="a-one", status="PARTIALLYDEPLOYED", ready=1, total=2, min_ready=1, errors=((7, "x"),)
        ),
        unsettled_since=NOW - timedelta(minutes=3),
        changes=(NOW - timedelta(minutes=1), NOW),
        episode=1_795_694_400_000,  # episode ids are opening times in milliseconds
        episode_open=True,
    )
    await store.record_poll(1, ProjectDiff(tracked={"a-one": tracked}), ["a-one"], NOW)
    assert await store.load_project(1) == ({"a-one": tracked}, NOW)


async def test_deleted_deployment_ends_its_subscriptions_but_not_all(store: Store) -> None:
    await subscribe(store, "C1", "my-instance")
    await subscribe(store, "C2", ALL_DEPLOYMENTS)
    gone = Transition(
        project_id=1, name="my-instance", kind=AlertKind.DELETED, at=NOW, old_status="ACTIVE", problem=True
    )
    await store.record_poll(1, ProjectDiff(transitions=[gone], deleted=["my-instance"]), [], NOW)
    assert sorted(job.channel_id for job in await store.open_deliveries()) == ["C1", "C2"]
    assert await store.channel_subscriptions("C1") == []
    assert [s.target for s in await store.channel_subscriptions("C2")] == [ALL_DEPLOYMENTS]


async def test_outage_notice_once_then_reachable_again(store: Store) -> None:
    await subscribe(store, "C1", "my-instance")
    await subscribe(store, "C1", ALL_DEPLOYMENTS)
    await subscribe(store, "C2", "my-instance")
    minute = timedelta(minutes=1)
    assert await store.record_failed_poll(1, NOW, alert_after=3, reason="no_answer") is None
    assert await store.record_failed_poll(1, NOW + minute, alert_after=3, reason="http:502") is None
    notice = await store.record_failed_poll(1, NOW + 2 * minute, alert_after=3, reason="http:503")
    # Why: the latest failure; since when: the first of the run.
    assert notice is not None and notice.kind is AlertKind.GCORE_UNREACHABLE
    assert (notice.detail, notice.since, notice.at) == ("http:503", NOW, NOW + 2 * minute)
    assert await store.record_failed_poll(1, NOW + 3 * minute, alert_after=3, reason="auth:401") is None
    # One notice per channel, however many of its subscriptions watch the project; read back as recorded.
    jobs = await store.open_deliveries()
    assert [(j.channel_id, j.flat) for j in jobs] == [("C1", True), ("C2", True)]
    assert {j.transition for j in jobs} == {notice}
    recorded = await store.record_poll(1, ProjectDiff(), [], NOW + 12 * minute)
    assert [(t.kind, t.since, t.at) for t in recorded] == [
        (AlertKind.GCORE_REACHABLE, NOW, NOW + 12 * minute)
    ]
    reachable = [j.transition for j in await store.open_deliveries() if j.transition.kind is recorded[0].kind]
    assert [(t.since, t.detail) for t in reachable] == [(NOW, None)] * 2
    assert await store.record_poll(1, ProjectDiff(), [], NOW) == []


async def test_a_good_poll_ends_the_run_of_failures(store: Store) -> None:
    await subscribe(store, "C1", ALL_DEPLOYMENTS)
    later = NOW + timedelta(hours=1)
    await store.record_failed_poll(1, NOW, alert_after=2, reason="auth:401")
    await store.record_poll(1, ProjectDiff(), [], NOW + timedelta(minutes=1))
    # The failure before the good poll neither counts nor dates the next outage.
    assert await store.record_failed_poll(1, later, alert_after=2, reason="invalid") is None
    notice = await store.record_failed_poll(1, later + timedelta(minutes=1), alert_after=2, reason="invalid")
    assert notice is not None and (notice.detail, notice.since) == ("invalid", later)
    (job,) = await store.open_deliveries()
    assert (job.transition.detail, job.transition.since) == ("invalid", later)


async def test_delivery_states_and_pause(store: Store) -> None:
    await subscribe(store, "C1", "my-instance")
    await store.record_poll(
        1, ProjectDiff(transitions=[changed("my-instance", "ACTIVE", "DISABLED")]), [], NOW
    )
    (job,) = await store.open_deliveries()
    assert await store.claim_delivery(job.id, NOW, thread_ts="1.1")
    # A failed attempt after the claim keeps it claimed: the post may have reached Slack.
    await store.record_delivery_failure(job.id, "internal_error", give_up=False)
    (job,) = await store.open_deliveries("C1")
    assert (job.state, job.thread_ts, job.attempts) == (DeliveryState.SENDING, "1.1", 1)
    assert await store.open_deliveries("C2") == []
    assert await store.open_delivery_channels() == ["C1"]
    await store.pause_channel("C1", "not_in_channel")
    assert await store.open_deliveries() == []


async def test_threads_are_remembered_per_channel_and_episode(store: Store) -> None:
    assert await store.thread("C1", 1, "my-instance", 1, "episode") is None
    await store.save_thread("C1", 1, "my-instance", 1, "episode", "100.1")
    await store.save_thread("C1", 1, "my-instance", 1, "episode", "100.1")
    assert await store.thread("C1", 1, "my-instance", 1, "episode") == "100.1"
    await store.save_thread("C1", 1, "my-instance", 1_795_694_400_000, "episode", "200.1")
    assert await store.thread("C1", 1, "my-instance", 1_795_694_400_000, "episode") == "200.1"
    assert await store.thread("C1", 1, "my-instance", 2, "episode") is None


async def test_unwatching_the_last_subscription_forgets_the_project(store: Store) -> None:
    await subscribe(store, "C1", "my-instance")
    tracked = {"my-instance": Tracked(snapshot=Snapshot(name="my-instance", status="ACTIVE"))}
    await store.record_poll(1, ProjectDiff(tracked=tracked), ["my-instance"], NOW)
    assert (await store.unsubscribe("C1", 1, "my-instance")) is not None
    assert await store.unsubscribe("C1", 1, "my-instance") is None
    assert await store.load_project(1) == ({}, None)


async def test_one_leader_at_a_time(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one process: see test_a_second_store_on_one_sqlite_file_is_refused")
    first, second = Store(database_url), Store(database_url)
    try:
        assert await first.lead()
        assert not await second.lead()
        first.close()
        assert await second.lead()
        assert await second.lead()
    finally:
        first.close()
        second.close()


async def test_a_leader_whose_lock_session_ends_stops_at_once(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("leadership by lock is PostgreSQL's")
    first, second = Store(database_url), Store(database_url)
    try:
        assert await first.lead()
        assert (await first.lease_projects([1])).projects == [1]
        await subscribe(first, "C1", "my-instance")
        assert terminate_leader_session(database_url) == 1
        # Another replica may take the locks at once; the old leader writes nothing from then on.
        assert await second.lead()
        assert (await second.lease_projects([1])).projects == [1]
        with pytest.raises(NotLeader):
            await first.record_poll(1, ProjectDiff(transitions=[changed("my-instance", "A", "B")]), [], NOW)
        assert not await first.lead()
        assert (await first.lease_projects([1])).projects == []
        assert await second.open_deliveries() == []
    finally:
        first.close()
        second.close()


async def settle(stores: list[Store], wanted: list[int], rounds: int = 4) -> list[list[int]]:
    """Each store's leased projects after ``rounds`` cycles of every store, as the replicas' watchers run
    them (a replica that joins takes its share only once the others let theirs go)."""
    leased: list[list[int]] = [[] for _ in stores]
    for _ in range(rounds):
        for index, store in enumerate(stores):
            leased[index] = (await store.lease_projects(wanted)).projects
    return leased


async def test_replicas_share_the_projects_and_take_over_a_dead_ones_at_once(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("leases are PostgreSQL's; a SQLite file has one process, which polls every project")
    projects = list(range(1, 41))
    first, second, third = Store(database_url), Store(database_url), Store(database_url)
    try:
        # Alone, a replica polls everything; what it took is new to it once, not on the next cycle.
        assert await first.lease_projects(projects) == Leases(projects, frozenset(projects))
        assert await first.lease_projects(projects) == Leases(projects)
        a, b = await settle([first, second], projects)
        assert len(a) == len(b) == 20 and sorted(a + b) == projects
        # A third replica: each keeps at most 14 (40 / 3, rounded up), and every project is polled.
        a, b, c = await settle([first, second, third], projects)
        assert max(map(len, (a, b, c))) <= 14 and sorted(a + b + c) == projects
        # Killed: its locks go with its session, and the others take its projects on their next cycle.
        assert terminate_lease_holder(database_url, c[0]) == 1
        a, b = await settle([first, second], projects, rounds=1)
        assert sorted(a + b) == projects and {len(a), len(b)} == {20}
        # A project no longer watched is let go.
        assert (await first.lease_projects([p for p in projects if p != a[0]])).projects == a[1:]
        assert lease_holders(database_url, a[0]) == []
    finally:
        for store in (first, second, third):
            store.close()


async def test_the_server_lets_a_vanished_replicas_locks_go_in_seconds(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("leases are PostgreSQL's")
    store = Store(database_url)
    try:
        assert (await store.lease_projects([1])).projects == [1]
        # Read on the locks' own session (the server applies them per session; a TCP one here).
        assert store._locks is not None
        settings = {
            name: store._locks.execute(text(f"SHOW {name}")).scalar_one() for name in SERVER_KEEPALIVES
        }
        # As PostgreSQL shows them: seconds, and milliseconds for the user timeout.
        assert settings == {
            "tcp_keepalives_idle": "5",
            "tcp_keepalives_interval": "2",
            "tcp_keepalives_count": "3",
            "tcp_user_timeout": "12000",
        }
    finally:
        store.close()


async def test_a_lock_session_that_fails_lets_every_lock_go_and_steps_down_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("leases are PostgreSQL's")
    store = Store(database_url)
    try:
        assert await store.lead()
        assert (await store.lease_projects([1, 2])).projects == [1, 2]
        (old,) = lease_holders(database_url, 1)
        lease_on = store._lease_on
        failures = iter([ProgrammingError("SELECT", {}, Exception("a statement failed"))])

        def fails_once(locks: Any, wanted: Any) -> Leases:
            error = next(failures, None)
            if error is not None:
                raise error
            return lease_on(locks, wanted)

        monkeypatch.setattr(store, "_lease_on", fails_once)
        # The failed session is closed, not pooled: the server ends it, and its locks go with it.
        leases = await store.lease_projects([1, 2])
        assert leases == Leases([1, 2], frozenset({1, 2}))
        wait_for(lambda: old not in [*lease_holders(database_url, 1), leader_pid(database_url)], timeout=5)
        # It was leading: it steps down once (the notifier forgets its claims), then leads again.
        assert not await store.lead()
        assert await store.lead()
    finally:
        store.close()


async def test_a_poll_of_a_project_leased_elsewhere_is_refused(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("leases are PostgreSQL's")
    first, second = Store(database_url), Store(database_url)
    try:
        assert (await first.lease_projects([1])).projects == [1]
        await subscribe(first, "C1", "my-instance")
        poll = ProjectDiff(transitions=[changed("my-instance", "A", "B")])
        with pytest.raises(NotLeader):
            await second.record_poll(1, poll, [], NOW)
        with pytest.raises(NotLeader):
            await second.record_failed_poll(1, NOW, 1, reason="http_500")
        assert await first.record_poll(1, poll, [], NOW) == poll.transitions
        assert len(await first.open_deliveries()) == 1
    finally:
        first.close()
        second.close()


def test_a_second_store_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    first = Store(url)
    try:
        with pytest.raises(DatabaseInUse, match="another bot process is already using"):
            Store(url)
    finally:
        first.close()
    Store(url).close()  # the lock goes with the store that held it


async def test_long_values_fit_on_both_engines(store: Store) -> None:
    await subscribe(store, "C1", ALL_DEPLOYMENTS)
    status = "X" * 300
    snapshot = Snapshot.of(DeploymentStatusView(name="my-instance", status=status))
    transition = changed("my-instance", "ACTIVE", snapshot.status)
    await store.record_poll(1, ProjectDiff(transitions=[transition]), [], NOW)
    (job,) = await store.open_deliveries()
    assert job.transition.new_status == "X" * STATUS_MAX_CHARS
    await store.record_delivery_failure(job.id, "e" * 300, give_up=True)
    await store.pause_channel("C1", "r" * 300)
    assert (await store.channel_subscriptions("C1"))[0].paused_reason == "r" * 64


async def test_two_identical_subscribes_at_once_both_succeed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both look before either inserts, as a double click's two requests can.
    both_looked = threading.Barrier(2, timeout=10)
    find = Store._find_subscription
    looks = 0

    def find_together(session: Any, channel_id: str, project_id: int, target: str) -> Any:
        nonlocal looks
        looks += 1
        row = find(session, channel_id, project_id, target)
        if looks <= 2:
            both_looked.wait()
        return row

    monkeypatch.setattr(Store, "_find_subscription", staticmethod(find_together))
    request: dict[str, Any] = {
        "channel_id": "C0OPS",
        "project_id": 1,
        "target": "my-instance",
        "only_problems": False,
        "flat": False,
        "created_by": "U0ALICE",
        "now": NOW,
    }
    results = await asyncio.gather(store.subscribe(**request), store.subscribe(**request))
    assert sorted(outcome for _, outcome in results) == sorted(
        [SubscribeOutcome.CREATED, SubscribeOutcome.UNCHANGED]
    )
    assert len(await store.channel_subscriptions("C0OPS")) == 1


async def test_subscribe_keeps_replaces_and_clears_notify(store: Store) -> None:
    async def watch(
        notify: tuple[str, ...] | None, *, flat: bool = False
    ) -> tuple[Subscription, SubscribeOutcome]:
        return await store.subscribe(
            channel_id="C1",
            project_id=1,
            target="my-instance",
            only_problems=False,
            flat=flat,
            created_by="U1",
            now=NOW,
            notify=notify,
        )

    owners = ("<!subteam^S0ONCALL>", "<@U0BOB>")
    created, outcome = await watch(owners)
    assert outcome is SubscribeOutcome.CREATED and created.notify == owners
    assert await watch(None) == (created, SubscribeOutcome.UNCHANGED)
    assert await watch(owners) == (created, SubscribeOutcome.UNCHANGED)
    flat, outcome = await watch(None, flat=True)
    assert outcome is SubscribeOutcome.UPDATED and flat.notify == owners
    replaced, outcome = await watch(("<@U0CAROL>",), flat=True)
    assert outcome is SubscribeOutcome.UPDATED and replaced.notify == ("<@U0CAROL>",)
    assert (await store.channel_subscriptions("C1"))[0].notify == ("<@U0CAROL>",)
    await store.pause_channel("C1", "is_archived")
    resumed, outcome = await watch(None, flat=True)
    assert outcome is SubscribeOutcome.RESUMED and resumed.notify == ("<@U0CAROL>",)
    cleared, outcome = await watch((), flat=True)
    assert outcome is SubscribeOutcome.UPDATED and cleared.notify == ()
    assert (await store.channel_subscriptions("C1"))[0].notify == ()
