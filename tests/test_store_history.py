"""A deployment's history from the store, on SQLite and on PostgreSQL: its episodes newest first, bounded
in episodes and in steps, and its naps counted rather than listed."""

from __future__ import annotations

from datetime import timedelta

from bot.store import Store
from bot.watch.transitions import AlertKind, ProjectDiff, Snapshot, Transition, new_episode
from tests.test_store import NOW
from tests.test_store import store as store  # the fixture: a leading store on each engine

ROLLOUT = new_episode(NOW)
INCIDENT = new_episode(NOW + timedelta(hours=2))


def step(
    minute: int,
    old: str,
    new: str,
    *,
    episode: int,
    name: str = "my-instance",
    project: int = 1,
    **fields: object,
) -> Transition:
    snapshot = Snapshot(name=name, status=new, ready=1, total=1)
    at = NOW + timedelta(minutes=minute)
    return Transition(project, name, AlertKind.CHANGED, at, old, new, snapshot, episode, **fields)  # type: ignore[arg-type]


async def record(store: Store, project: int, *transitions: Transition) -> None:
    await store.record_poll(project, ProjectDiff(transitions=list(transitions)), [], NOW)


async def test_history_lists_episodes_newest_first_with_their_steps_and_counts_naps(store: Store) -> None:
    empty = await store.history(1, "my-instance")
    assert (empty.episodes, empty.older, empty.naps, empty.naps_since) == ((), False, 0, None)

    await record(
        store,
        1,
        step(0, "ACTIVE", "DEPLOYING", episode=ROLLOUT),
        step(3, "DEPLOYING", "ACTIVE", episode=ROLLOUT),
        step(30, "ACTIVE", "PENDING", episode=0),
        step(40, "PENDING", "ACTIVE", episode=0),
        step(50, "ACTIVE", "PENDING", episode=0),
        # Not this deployment's: another name, another project.
        step(60, "ACTIVE", "DEPLOYING", episode=ROLLOUT, name="other-one"),
        step(60, "ACTIVE", "PENDING", episode=0, project=2),
    )
    # An incident of 40 steps whose only problem is the 5th: kept are the first, that problem and the latest.
    flips = [
        step(120 + i, *(("ACTIVE", "DEPLOYING") if i % 2 == 0 else ("DEPLOYING", "ACTIVE")), episode=INCIDENT)
        for i in range(40)
    ]
    flips[4] = step(124, "ACTIVE", "PARTIALLYDEPLOYED", episode=INCIDENT, problem=True)
    await record(store, 1, *flips)

    history = await store.history(1, "my-instance", steps=10)
    assert (history.project_id, history.name) == (1, "my-instance")
    assert [e.id for e in history.episodes] == [INCIDENT, ROLLOUT]
    incident, rollout = history.episodes
    assert [s.new_status for s in rollout.steps] == ["DEPLOYING", "ACTIVE"]
    assert rollout.began == NOW and (rollout.step_count, rollout.left_out) == (2, 0)
    assert incident.step_count == 40 and len(incident.steps) == 10 and incident.left_out == 30
    kept = [s.at for s in incident.steps]
    assert kept == sorted(kept) and incident.began == NOW + timedelta(minutes=120)
    assert incident.steps[1].problem and incident.steps[1].new_status == "PARTIALLYDEPLOYED"
    assert incident.steps[-1].at == NOW + timedelta(minutes=159)
    assert all(s.name == "my-instance" and s.project_id == 1 for e in history.episodes for s in e.steps)
    # Naps are counted, ever, while every episode is held; they are never an episode.
    assert (history.older, history.naps, history.naps_since) == (False, 2, NOW + timedelta(minutes=30))
    assert (await store.history(1, "my-instance", steps=40)).episodes[0].steps == tuple(flips)


async def test_history_holds_at_most_the_latest_episodes(store: Store) -> None:
    episodes = [new_episode(NOW + timedelta(hours=hour)) for hour in range(4)]
    for hour, episode in enumerate(episodes):
        await record(
            store,
            1,
            step(hour * 60, "ACTIVE", "DEPLOYING", episode=episode),
            step(hour * 60 + 1, "DEPLOYING", "ACTIVE", episode=episode),
            step(hour * 60 + 30, "ACTIVE", "PENDING", episode=0),
        )
    history = await store.history(1, "my-instance", episodes=2)
    assert [e.id for e in history.episodes] == episodes[:1:-1]
    # With older episodes left out, the naps counted are those since the oldest one held began.
    assert history.older and history.naps == 2 and history.naps_since == NOW + timedelta(hours=2, minutes=30)


async def test_a_card_knows_since_when_the_deployment_has_its_status(store: Store) -> None:
    await record(
        store,
        1,
        step(0, "ACTIVE", "DEPLOYING", episode=ROLLOUT),
        step(3, "DEPLOYING", "ACTIVE", episode=ROLLOUT),
        step(9, "ACTIVE", "PENDING", episode=0),
    )
    assert await store.status_since(1, "my-instance", "pending") == NOW + timedelta(minutes=9)
    assert await store.status_since(1, "my-instance", "ACTIVE") == NOW + timedelta(minutes=3)
    assert await store.status_since(1, "my-instance", "DISABLED") is None
    assert await store.status_since(1, "other-one", "ACTIVE") is None
