"""The pure diff: every alert rule of the watcher, with a fixed clock and no servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.gcore.models import DeploymentStatus, DeploymentStatusView
from bot.watch.specs import digest_key, spec_changes, spec_dict, spec_of
from bot.watch.transitions import (
    STATUS_MAX_CHARS,
    AlertKind,
    ProjectDiff,
    Snapshot,
    Tracked,
    WatchRules,
    detect_transitions,
)

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLL = timedelta(seconds=30)
RULES = WatchRules(stuck_after=timedelta(minutes=15))


def snap(
    status: str, ready: int = 1, total: int = 1, min_ready: int = 1, errors: tuple[tuple[int, str], ...] = ()
) -> Snapshot:
    return Snapshot(
        name="my-instance", status=status, ready=ready, total=total, min_ready=min_ready, errors=errors
    )


class Poller:
    """Feeds successive polls of one deployment through detect_transitions, as the watcher does."""

    def __init__(self, first: Snapshot | None = None) -> None:
        self.now = T0
        self.tracked: dict[str, Tracked] = {}
        if first is not None:
            self.poll(first, baseline=True)

    def poll(
        self, current: Snapshot | None, *, after: timedelta = POLL, baseline: bool = False
    ) -> ProjectDiff:
        self.now += after
        diff = detect_transitions(
            1, self.tracked, {current.name: current} if current else {}, self.now, RULES, baseline=baseline
        )
        self.tracked = diff.tracked
        return diff

    def kinds(self, current: Snapshot | None, *, after: timedelta = POLL) -> list[AlertKind]:
        return [t.kind for t in self.poll(current, after=after).transitions]


def test_baseline_alerts_nothing() -> None:
    poller = Poller()
    assert poller.poll(snap("DEPLOYING"), baseline=True).transitions == []
    assert poller.kinds(snap("DEPLOYING")) == []


def test_rollout_deploying_partial_active_is_one_episode() -> None:
    poller = Poller(snap("ACTIVE"))
    first = poller.poll(snap("DEPLOYING")).transitions
    assert [(t.kind, t.old_status, t.new_status) for t in first] == [
        (AlertKind.CHANGED, "ACTIVE", "DEPLOYING")
    ]
    episode = first[0].episode
    second = poller.poll(snap("PARTIALLYDEPLOYED", ready=0)).transitions
    third = poller.poll(snap("ACTIVE")).transitions
    assert [t.episode for t in second + third] == [episode, episode]
    assert poller.tracked["my-instance"].episode_open
    # One more poll of ACTIVE closes the rollout; a change past the flap window opens a new one.
    assert poller.kinds(snap("ACTIVE")) == []
    assert not poller.tracked["my-instance"].episode_open
    assert poller.poll(snap("DEPLOYING"), after=RULES.flap_window).transitions[0].episode > episode


def test_a_change_within_the_flap_window_continues_the_closed_episode() -> None:
    poller = Poller(snap("ACTIVE"))
    episode = poller.poll(snap("DEPLOYING")).transitions[0].episode
    poller.poll(snap("ACTIVE"))
    poller.poll(snap("ACTIVE"))
    assert not poller.tracked["my-instance"].episode_open
    again = poller.poll(
        snap("PARTIALLYDEPLOYED", ready=0, errors=((1, "OOMKilled"),)), after=timedelta(minutes=5)
    )
    assert [(t.kind, t.episode) for t in again.transitions] == [(AlertKind.CHANGED, episode)]


def test_sleeping_and_waking_belong_to_no_episode_and_never_flap() -> None:
    poller = Poller(snap("ACTIVE"))
    steps = [
        poller.poll(snap(status, ready=0 if status == "PENDING" else 1))
        for status in ["PENDING", "ACTIVE"] * 4
    ]
    assert [(t.kind, t.episode) for diff in steps for t in diff.transitions] == [(AlertKind.CHANGED, 0)] * 8
    assert not poller.tracked["my-instance"].episode_open and not poller.tracked["my-instance"].flapping


def test_scale_to_zero_is_routine_not_a_problem() -> None:
    poller = Poller(snap("ACTIVE"))
    sleeping = poller.poll(snap("PENDING", ready=0, total=0)).transitions
    assert [(t.kind, t.problem) for t in sleeping] == [(AlertKind.CHANGED, False)]
    woke = poller.poll(snap("ACTIVE")).transitions
    assert [(t.kind, t.problem) for t in woke] == [(AlertKind.CHANGED, False)]


def test_partially_deployed_with_error_is_a_problem_and_its_recovery_too() -> None:
    poller = Poller(snap("ACTIVE"))
    failing = poller.poll(snap("PARTIALLYDEPLOYED", ready=0, errors=((1, "ImagePullBackOff"),))).transitions
    assert [(t.kind, t.problem, t.recovery) for t in failing] == [(AlertKind.CHANGED, True, False)]
    recovered = poller.poll(snap("ACTIVE")).transitions
    assert [(t.kind, t.problem, t.recovery) for t in recovered] == [(AlertKind.CHANGED, True, True)]


def test_partially_deployed_without_error_is_not_a_problem() -> None:
    poller = Poller(snap("DEPLOYING"))
    assert [t.problem for t in poller.poll(snap("PARTIALLYDEPLOYED", ready=0)).transitions] == [False]


def test_stuck_once_per_rollout_even_across_deploying_and_partial() -> None:
    poller = Poller(snap("ACTIVE"))
    poller.poll(snap("DEPLOYING"))
    assert poller.kinds(snap("PARTIALLYDEPLOYED", ready=0), after=timedelta(minutes=10)) == [
        AlertKind.CHANGED
    ]
    stuck = poller.poll(snap("PARTIALLYDEPLOYED", ready=0), after=timedelta(minutes=6)).transitions
    assert [(t.kind, t.problem) for t in stuck] == [(AlertKind.STUCK, True)]
    assert poller.kinds(snap("PARTIALLYDEPLOYED", ready=0), after=timedelta(minutes=30)) == []
    recovered = poller.poll(snap("ACTIVE")).transitions
    assert [(t.kind, t.recovery) for t in recovered] == [(AlertKind.CHANGED, True)]
    # A new rollout can be stuck again.
    poller.poll(snap("DEPLOYING"))
    assert poller.kinds(snap("DEPLOYING"), after=timedelta(minutes=16)) == [AlertKind.STUCK]


def test_degraded_and_recovered_while_active() -> None:
    poller = Poller(snap("ACTIVE", ready=3, total=3, min_ready=2))
    assert poller.kinds(snap("ACTIVE", ready=2, total=3, min_ready=2)) == []  # at the minimum: fine
    degraded = poller.poll(snap("ACTIVE", ready=1, total=3, min_ready=2)).transitions
    assert [(t.kind, t.problem) for t in degraded] == [(AlertKind.DEGRADED, True)]
    assert poller.kinds(snap("ACTIVE", ready=1, total=3, min_ready=2)) == []
    assert poller.kinds(snap("ACTIVE", ready=3, total=3, min_ready=2)) == [AlertKind.RECOVERED]


def test_a_deployment_created_again_opens_a_new_episode() -> None:
    poller = Poller(snap("ACTIVE"))
    first = poller.poll(snap("DEPLOYING")).transitions[0].episode
    poller.poll(None)
    again = poller.poll(snap("DEPLOYING")).transitions
    assert [t.kind for t in again] == [AlertKind.CREATED]
    assert again[0].episode > first


def test_deleted_when_absent_from_the_list() -> None:
    poller = Poller(snap("ACTIVE"))
    diff = poller.poll(None)
    assert [(t.kind, t.old_status, t.problem) for t in diff.transitions] == [
        (AlertKind.DELETED, "ACTIVE", True)
    ]
    assert diff.deleted == ["my-instance"]
    assert diff.tracked == {}


def test_new_deployment_in_a_watched_project_is_announced() -> None:
    poller = Poller()
    poller.poll(None, baseline=True)
    created = poller.poll(snap("DEPLOYING")).transitions
    assert [(t.kind, t.new_status) for t in created] == [(AlertKind.CREATED, "DEPLOYING")]
    assert poller.poll(snap("ACTIVE")).transitions[0].episode == created[0].episode


def test_flapping_is_one_alert_updated_until_stable() -> None:
    poller = Poller(snap("ACTIVE"))
    statuses = ["PARTIALLYDEPLOYED", "ACTIVE", "PARTIALLYDEPLOYED", "ACTIVE"]
    for status in statuses:
        assert poller.kinds(snap(status), after=timedelta(minutes=1)) == [AlertKind.CHANGED]
    fifth = poller.poll(snap("PARTIALLYDEPLOYED"), after=timedelta(minutes=1)).transitions
    assert [(t.kind, t.flap_count) for t in fifth] == [(AlertKind.FLAPPING, 5)]
    sixth = poller.poll(snap("ACTIVE"), after=timedelta(minutes=1)).transitions
    assert [(t.kind, t.flap_count) for t in sixth] == [(AlertKind.FLAPPING, 6)]
    # Quiet, but not yet for 10 minutes: nothing; then one STABLE.
    assert poller.kinds(snap("ACTIVE"), after=timedelta(minutes=9)) == []
    assert poller.kinds(snap("ACTIVE"), after=timedelta(minutes=2)) == [AlertKind.STABLE]
    assert not poller.tracked["my-instance"].flapping
    assert poller.kinds(snap("ACTIVE")) == []


def test_changes_spread_over_more_than_ten_minutes_do_not_flap() -> None:
    poller = Poller(snap("ACTIVE"))
    for status in ["PENDING", "ACTIVE", "PENDING", "ACTIVE", "PENDING", "ACTIVE"]:
        assert poller.kinds(snap(status), after=timedelta(minutes=3)) == [AlertKind.CHANGED]


def test_offline_flag_is_carried() -> None:
    poller = Poller(snap("ACTIVE"))
    poller.now += timedelta(hours=1)
    diff = detect_transitions(
        1, poller.tracked, {"my-instance": snap("DISABLED")}, poller.now, RULES, baseline=False, offline=True
    )
    assert [(t.kind, t.offline) for t in diff.transitions] == [(AlertKind.CHANGED, True)]


def test_unknown_status_changes_are_still_transitions() -> None:
    poller = Poller(snap("ACTIVE"))
    assert [(t.kind, t.new_status) for t in poller.poll(snap("HIBERNATING")).transitions] == [
        (AlertKind.CHANGED, "HIBERNATING")
    ]


def test_only_clock_dependent_state_waits_on_time() -> None:
    poller = Poller(snap("ACTIVE"))
    assert not poller.tracked["my-instance"].waiting_on_time
    poller.poll(snap("DEPLOYING"))
    assert poller.tracked["my-instance"].waiting_on_time  # may become stuck
    poller.poll(snap("ACTIVE"))
    assert poller.tracked["my-instance"].waiting_on_time  # the rollout closes on the next poll
    poller.poll(snap("ACTIVE"), after=timedelta(minutes=11))
    assert not poller.tracked["my-instance"].waiting_on_time


def test_a_change_of_spelling_alone_is_no_change() -> None:
    poller = Poller(snap("active"))
    assert poller.kinds(snap("ACTIVE")) == []
    assert poller.kinds(snap("Active")) == []
    assert poller.kinds(snap("DISABLED")) == [AlertKind.CHANGED]


def test_snapshots_keep_known_statuses_in_their_spelling_and_others_bounded() -> None:
    known = Snapshot.of(DeploymentStatusView(name="my-instance", status="partiallyDeployed"))
    assert known.status == "PARTIALLYDEPLOYED" and known.state is DeploymentStatus.PARTIALLYDEPLOYED
    odd = Snapshot.of(DeploymentStatusView(name="my-instance", status="Hibernating" * 20))
    assert odd.status == ("Hibernating" * 20)[:STATUS_MAX_CHARS] and odd.state is DeploymentStatus.UNKNOWN


def test_a_deployment_this_poll_could_not_read_is_kept_not_deleted() -> None:
    poller = Poller(snap("DEPLOYING"))
    before = poller.tracked["my-instance"]
    diff = detect_transitions(
        1, poller.tracked, {}, T0 + RULES.stuck_after * 2, RULES, baseline=False, unknown={"my-instance"}
    )
    assert diff.transitions == [] and diff.deleted == []
    assert diff.tracked == {"my-instance": before}


def test_a_deployment_listed_but_never_read_is_not_new_once_it_reads() -> None:
    poller = Poller(snap("ACTIVE"))
    other = Snapshot(name="was-unreadable", status="ACTIVE")
    current = {"my-instance": snap("ACTIVE"), "was-unreadable": other}
    diff = detect_transitions(
        1, poller.tracked, current, T0 + POLL, RULES, baseline=False, never_read={"was-unreadable"}
    )
    assert diff.transitions == [] and diff.tracked["was-unreadable"].snapshot == other
    announced = detect_transitions(1, poller.tracked, current, T0 + POLL, RULES, baseline=False)
    assert [t.kind for t in announced.transitions] == [AlertKind.CREATED]


# What changed: the spec beside the status.


def spec_view(**fields: object) -> DeploymentStatusView:
    """A listing item with a spec: the seed's, with ``fields`` replaced."""
    item: dict[str, object] = {
        "name": "my-instance",
        "status": "ACTIVE",
        "image": "nginx:1.25",
        "flavor_name": "inference-4vcpu",
        "listening_port": 8080,
        "command": ["nginx", "-g", "daemon off;"],
        "envs": {"API_URL": "https://a.example", "TOKEN": "s3cret-value"},
        "containers": [
            {
                "region_id": 1,
                "deploy_status": {"ready": 1, "total": 1},
                "scale": {"min": 1, "max": 3, "triggers": {"cpu": {"threshold": 80}}},
            }
        ],
        "probes": {
            "liveness_probe": {
                "enabled": True,
                "probe": {
                    "http_get": {"path": "/healthz", "port": 80, "headers": {"Authorization": "Bearer abc"}},
                    "period_seconds": 5,
                },
            }
        },
    }
    item.update(fields)
    return DeploymentStatusView.model_validate(item)


def spec_snap(**fields: object) -> Snapshot:
    return Snapshot.of(spec_view(**fields))


def changes_of(transition_changes: object) -> set[tuple[str, str, str | None, str | None, str]]:
    return {(c.field, c.item, c.old, c.new, c.how) for c in transition_changes}  # type: ignore[attr-defined]


def test_a_spec_change_alone_is_its_own_transition_and_no_problem() -> None:
    poller = Poller(spec_snap())
    (t,) = poller.poll(spec_snap(image="nginx:1.27")).transitions
    assert t.kind is AlertKind.SPEC_CHANGED and not t.problem and t.episode != 0
    assert changes_of(t.changes) == {("image", "", "nginx:1.25", "nginx:1.27", "changed")}
    assert poller.kinds(spec_snap(image="nginx:1.27")) == []  # nothing new: nothing told


def test_an_episode_opening_with_a_status_change_carries_the_changes_since_the_last_settled_state() -> None:
    poller = Poller(spec_snap())
    (t,) = poller.poll(spec_snap(image="nginx:1.27", status="DEPLOYING")).transitions
    assert t.kind is AlertKind.CHANGED
    assert ("image", "", "nginx:1.25", "nginx:1.27", "changed") in changes_of(t.changes)
    # The rest of the rollout changes no spec: its steps carry nothing.
    assert poller.poll(spec_snap(image="nginx:1.27")).transitions[0].changes == ()
    poller.poll(spec_snap(image="nginx:1.27"))  # settled one more poll: the episode closes
    (later,) = poller.poll(spec_snap(image="nginx:1.28", status="DEPLOYING")).transitions
    assert changes_of(later.changes) == {("image", "", "nginx:1.27", "nginx:1.28", "changed")}


def test_spec_change_then_deploying_keeps_one_episode_and_counts_from_the_settled_state() -> None:
    poller = Poller(spec_snap())
    (spec,) = poller.poll(spec_snap(image="nginx:1.27")).transitions
    (deploying,) = poller.poll(spec_snap(image="nginx:1.27", status="DEPLOYING")).transitions
    assert deploying.episode == spec.episode and deploying.changes == ()
    (again,) = poller.poll(spec_snap(image="nginx:1.27", status="DEPLOYING", listening_port=80)).transitions
    assert again.kind is AlertKind.SPEC_CHANGED
    assert changes_of(again.changes) == {
        ("image", "", "nginx:1.25", "nginx:1.27", "changed"),
        ("port", "", "8080", "80", "changed"),
    }


def test_regions_scale_triggers_auth_probes_and_env_are_told_without_values() -> None:
    poller = Poller(spec_snap())
    containers = [
        {"region_id": 1, "scale": {"min": 2, "max": 5, "triggers": {"cpu": {"threshold": 90}}}},
        {"region_id": 7, "scale": {"min": 1, "max": 1}},
    ]
    probes = {
        "liveness_probe": {
            "enabled": True,
            "probe": {
                "http_get": {"path": "/healthz", "port": 80, "headers": {"Authorization": "Bearer xyz"}},
                "period_seconds": 5,
            },
        }
    }
    envs = {"API_URL": "https://b.example", "NEW_FLAG": "1"}
    (t,) = poller.poll(
        spec_snap(containers=containers, probes=probes, envs=envs, auth_enabled=True, command="sleep 1")
    ).transitions
    assert changes_of(t.changes) == {
        ("auth", "", "off", "on", "changed"),
        ("command", "", None, None, "changed"),
        ("region", "7", None, None, "added"),
        ("scale", "1", "1-3", "2-5", "changed"),
        ("triggers", "1", "cpu 80", "cpu 90", "changed"),
        ("probe", "liveness", None, None, "changed"),
        ("env", "API_URL", None, None, "changed"),
        ("env", "NEW_FLAG", None, None, "added"),
        ("env", "TOKEN", None, None, "removed"),
    }
    held = repr(poller.tracked) + repr(t)
    for secret in ("s3cret-value", "b.example", "Bearer", "xyz", "sleep 1", "daemon off"):
        assert secret not in held


def test_a_state_without_a_spec_is_a_baseline_not_a_change() -> None:
    poller = Poller(snap("ACTIVE"))  # as stored before specs were kept
    assert poller.kinds(spec_snap()) == []
    assert poller.kinds(spec_snap(image="nginx:1.27")) == [AlertKind.SPEC_CHANGED]


def test_scaling_to_zero_and_waking_tell_no_spec_change() -> None:
    poller = Poller(spec_snap())
    assert [t.changes for t in poller.poll(spec_snap(status="PENDING")).transitions] == [()]
    assert [t.changes for t in poller.poll(spec_snap()).transitions] == [()]


def test_secret_digests_are_keyed_and_a_new_key_is_a_new_baseline_not_a_change() -> None:
    one, other = digest_key("gcore-key-one"), digest_key("gcore-key-two")
    token = spec_dict(spec_of(spec_view(), one))["env/TOKEN"]
    # Without the key nobody can check a stored digest against a guess: the unkeyed digest differs.
    assert token != spec_dict(spec_of(spec_view(), b""))["env/TOKEN"] and "s3cret" not in token
    # Rotated key, and a real change in the same poll: only what can be compared is told.
    rotated = spec_changes(spec_of(spec_view(), one), spec_of(spec_view(image="nginx:1.27"), other))
    assert [(c.field, c.old, c.new) for c in rotated] == [("image", "nginx:1.25", "nginx:1.27")]
    changed = spec_changes(
        spec_of(spec_view(), one), spec_of(spec_view(envs={"API_URL": "x", "TOKEN": "t"}), one)
    )
    assert [(c.field, c.item, c.how) for c in changed] == [
        ("env", "API_URL", "changed"),
        ("env", "TOKEN", "changed"),
    ]


def test_a_spec_change_seen_with_a_nap_is_still_told() -> None:
    poller = Poller(Snapshot.of(spec_view()))
    view = spec_view(
        status="PENDING",
        containers=[{**spec_view().containers[0].model_dump(), "scale": {"min": 0, "max": 5}}],
    )
    found = poller.poll(Snapshot.of(view)).transitions
    assert [(t.kind, t.episode == 0) for t in found] == [
        (AlertKind.SPEC_CHANGED, False),
        (AlertKind.CHANGED, True),
    ]
    assert "scale" in [c.field for c in found[0].changes]
