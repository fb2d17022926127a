"""The watcher's pure core: from what was last seen and what the list endpoint says now, the transitions.

No I/O and no clock: ``detect_transitions`` is handed ``now`` and returns the new tracked state of every
deployment with the transitions to alert, so every rule below is tested without a server.

Rules, in the words of the product:
- a status change is a transition; a deployment new to a project already watched is ``CREATED``;
- DEPLOYING or PARTIALLYDEPLOYED for longer than ``stuck_after`` is ``STUCK``, once per episode;
- ACTIVE with ready < total and ready < scale.min is ``DEGRADED``; back to healthy is ``RECOVERED``;
- absent from the list is ``DELETED``;
- more than ``flap_threshold`` status changes within ``flap_window`` start ``FLAPPING``: one alert, then
  updates of it, until no change for ``stable_after``, which is ``STABLE``;
- an *episode* (a rollout, an incident) opens with its first transition and closes once the deployment has
  been ACTIVE, DISABLED or PENDING, healthy and not flapping, for one more poll; a change within
  ``flap_window`` of the last one continues the episode instead of opening another;
- a change of the spec (image, scale, env…) with no change of status is ``SPEC_CHANGED``, not a problem; the
  opening step of an episode, and a step whose poll saw the spec change, carry what changed since the last
  settled state;
- scaling to zero and waking (ACTIVE ↔ PENDING) is routine: it belongs to no episode (``episode`` 0) and
  does not count towards flapping.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.gcore.models import DeploymentStatus, DeploymentStatusView
from bot.watch.specs import Change, Spec, spec_changes, spec_of

UNSETTLED = frozenset({DeploymentStatus.DEPLOYING, DeploymentStatus.PARTIALLYDEPLOYED})
SETTLED = frozenset({DeploymentStatus.ACTIVE, DeploymentStatus.DISABLED, DeploymentStatus.PENDING})
# A dict lookup: the watcher asks for the state of every deployment several times a poll.
_STATES = {member.value: member for member in DeploymentStatus}
# An undocumented status is kept raw, up to this many characters (the store's column width); a container
# error up to ERROR_MAX_CHARS (alerts show less).
STATUS_MAX_CHARS = 64
ERROR_MAX_CHARS = 1000


def canonical_status(status: str) -> str:
    """A documented status in its documented spelling (``active`` is ``ACTIVE``); any other, bounded."""
    known = _STATES.get(status.upper())
    return known.value if known is not None else status[:STATUS_MAX_CHARS]


class AlertKind(StrEnum):
    """What happened to a deployment (or to our view of a project)."""

    CHANGED = "changed"
    CREATED = "created"
    STUCK = "stuck"
    DEGRADED = "degraded"
    RECOVERED = "recovered"
    DELETED = "deleted"
    FLAPPING = "flapping"
    STABLE = "stable"
    GCORE_UNREACHABLE = "gcore_unreachable"
    GCORE_REACHABLE = "gcore_reachable"
    SPEC_CHANGED = "spec_changed"


@dataclass(frozen=True)
class Snapshot:
    """What the watcher keeps of a deployment: enough to detect and to tell, nothing secret."""

    name: str
    status: str
    ready: int = 0
    total: int = 0
    min_ready: int = 0
    errors: tuple[tuple[int, str], ...] = ()
    # The compact spec (bot/watch/specs.py); None when not known (a state stored before specs were kept).
    spec: Spec | None = None

    @classmethod
    def of(cls, deployment: DeploymentStatusView, digest_key: bytes = b"") -> Snapshot:
        """The snapshot of a deployment as the list endpoint gave it; ``digest_key`` keys the digests of
        its spec's secret parts."""
        containers = deployment.containers
        return cls(
            name=deployment.name,
            status=canonical_status(deployment.status),
            ready=sum(c.deploy_status.ready for c in containers),
            total=sum(c.deploy_status.total for c in containers),
            min_ready=sum(c.scale.min for c in containers),
            errors=tuple(
                (c.region_id, c.error_message[:ERROR_MAX_CHARS]) for c in containers if c.error_message
            ),
            spec=spec_of(deployment, digest_key),
        )

    @property
    def state(self) -> DeploymentStatus:
        """The status as a known member, UNKNOWN otherwise."""
        return _STATES.get(self.status.upper(), DeploymentStatus.UNKNOWN)

    @property
    def errored(self) -> bool:
        """PARTIALLYDEPLOYED with a container error: a failure, not just an image still pulling."""
        return self.state is DeploymentStatus.PARTIALLYDEPLOYED and bool(self.errors)

    @property
    def degraded(self) -> bool:
        """ACTIVE but short of replicas: fewer ready than wanted and than the scale minimum."""
        return (
            self.state is DeploymentStatus.ACTIVE and self.ready < self.total and self.ready < self.min_ready
        )


@dataclass(frozen=True)
class Tracked:
    """The watcher's memory of one deployment between polls."""

    snapshot: Snapshot
    unsettled_since: datetime | None = None
    stuck_alerted: bool = False
    problem: bool = False
    changes: tuple[datetime, ...] = ()
    flapping: bool = False
    episode: int = 0
    episode_open: bool = False
    # The spec as of the last settled state, which an episode's changes are told against.
    settled_spec: Spec | None = None

    @property
    def waiting_on_time(self) -> bool:
        """Whether a later poll may alert although nothing changed: a possible stuck, the end of flapping,
        or an episode to close."""
        return self.unsettled_since is not None or self.flapping or bool(self.changes) or self.episode_open


@dataclass(frozen=True)
class Transition:
    """One thing to alert: ``kind`` of deployment ``name`` in ``project_id``, seen at ``at``."""

    project_id: int
    name: str
    kind: AlertKind
    at: datetime
    old_status: str | None = None
    new_status: str | None = None
    snapshot: Snapshot | None = None
    episode: int = 0
    # True when the transition is part of a problem or its recovery (what `--only problems` keeps).
    problem: bool = False
    recovery: bool = False
    offline: bool = False
    flap_count: int = 0
    # Outage notices: why the polls fail (``GCORE_UNREACHABLE``) and since the first failed poll.
    detail: str | None = None
    since: datetime | None = None
    # What changed in the spec since the last settled state: on an episode's opening step, and on a step
    # whose poll saw the spec change.
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class WatchRules:
    """The thresholds of the rules above."""

    stuck_after: timedelta = timedelta(seconds=900)
    flap_threshold: int = 4
    flap_window: timedelta = timedelta(minutes=10)
    stable_after: timedelta = timedelta(minutes=10)
    # However often it keeps changing, a deployment's story starts a new message after this long.
    longest_episode: timedelta = timedelta(hours=6)


@dataclass
class ProjectDiff:
    """The new memory of a project's deployments and what to alert."""

    tracked: dict[str, Tracked] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def sleeps_or_wakes(old_status: str | None, new_status: str | None) -> bool:
    """ACTIVE → PENDING (scaled to zero) or PENDING → ACTIVE (woken by a request)."""
    pair = {canonical_status(old_status or ""), canonical_status(new_status or "")}
    return pair == {DeploymentStatus.ACTIVE.value, DeploymentStatus.PENDING.value}


def is_routine_sleep(t: Transition) -> bool:
    """A plain scale to zero or wake-up, which goes to the day's sleep digest rather than an episode."""
    return t.kind is AlertKind.CHANGED and not t.problem and sleeps_or_wakes(t.old_status, t.new_status)


def new_episode(now: datetime) -> int:
    """An episode id: the opening time in milliseconds. Unique per deployment even when its state is
    forgotten (deleted and created again, unwatched and watched again), so an old thread is never reused."""
    return int(now.timestamp() * 1000)


def _recent_changes(before: Tracked, now: datetime, rules: WatchRules) -> tuple[datetime, ...]:
    """The deployment's changes still within ``flap_window``."""
    return tuple(t for t in before.changes if now - t < rules.flap_window)


def _episode_for(before: Tracked, recent: tuple[datetime, ...], now: datetime, rules: WatchRules) -> int:
    """The episode a new transition belongs to: the open one; or the last one, closed, while changes come
    within ``flap_window`` of each other (a flapping deployment keeps one story), up to ``longest_episode``
    after it began; else a new one."""
    if before.episode_open:
        return before.episode
    began = datetime.fromtimestamp(before.episode / 1000, tz=now.tzinfo)
    if before.episode != 0 and recent and now - began < rules.longest_episode:
        return before.episode
    return new_episode(now)


def detect_transitions(
    project_id: int,
    previous: Mapping[str, Tracked],
    current: Mapping[str, Snapshot],
    now: datetime,
    rules: WatchRules,
    *,
    baseline: bool,
    offline: bool = False,
    unknown: Collection[str] = (),
    never_read: Collection[str] = (),
) -> ProjectDiff:
    """Compare the last poll of a project with this one.

    ``baseline`` is True on the first poll of a project: everything is recorded, nothing alerted.
    ``offline`` is True when the previous poll was long ago (the bot was down): the transitions say so.
    ``unknown`` names deployments this poll could not read: they are kept as they were, neither compared
    nor taken for deleted. ``never_read`` names deployments seen before but never read until now: their
    first reading is recorded, not announced as new.
    """
    diff = ProjectDiff()
    for name, snapshot in current.items():
        before = previous.get(name)
        if before is None:
            announce = not baseline and name not in never_read
            tracked, found = _first_sighting(project_id, snapshot, now, announce=announce)
        else:
            tracked, found = _next_sighting(project_id, before, snapshot, now, rules, offline=offline)
        diff.tracked[name] = tracked
        diff.transitions.extend(found)
    for name, before in previous.items():
        if name in current:
            continue
        if name in unknown:
            diff.tracked[name] = before
            continue
        diff.deleted.append(name)
        diff.transitions.append(
            Transition(
                project_id=project_id,
                name=name,
                kind=AlertKind.DELETED,
                at=now,
                old_status=before.snapshot.status,
                snapshot=before.snapshot,
                episode=_episode_for(before, _recent_changes(before, now, rules), now, rules),
                problem=True,
                offline=offline,
            )
        )
    return diff


def _first_sighting(
    project_id: int, snapshot: Snapshot, now: datetime, *, announce: bool
) -> tuple[Tracked, list[Transition]]:
    tracked = Tracked(
        snapshot=snapshot,
        unsettled_since=now if snapshot.state in UNSETTLED else None,
        problem=snapshot.errored or snapshot.degraded,
        settled_spec=snapshot.spec,
    )
    if not announce:
        return tracked, []
    episode = new_episode(now)
    tracked = replace(tracked, episode=episode, episode_open=True)
    created = Transition(
        project_id=project_id,
        name=snapshot.name,
        kind=AlertKind.CREATED,
        at=now,
        new_status=snapshot.status,
        snapshot=snapshot,
        episode=episode,
        problem=tracked.problem,
    )
    return tracked, [created]


def _next_sighting(
    project_id: int, before: Tracked, snapshot: Snapshot, now: datetime, rules: WatchRules, *, offline: bool
) -> tuple[Tracked, list[Transition]]:
    old = before.snapshot
    # Compared as the statuses they denote: a change of spelling alone is no change.
    changed = canonical_status(old.status) != canonical_status(snapshot.status)
    recent = _recent_changes(before, now, rules)
    sleep = changed and sleeps_or_wakes(old.status, snapshot.status) and not before.flapping
    # Falling below the replica minimum or back counts as a change too: a deployment that keeps degrading
    # is flapping, and keeps one story.
    flipped = changed or snapshot.degraded != old.degraded
    changes = recent + ((now,) if flipped and not sleep else ())
    unsettled_since = None
    if snapshot.state in UNSETTLED:
        unsettled_since = before.unsettled_since if old.state in UNSETTLED and before.unsettled_since else now
    stuck = (
        unsettled_since is not None
        and now - unsettled_since >= rules.stuck_after
        and not (before.stuck_alerted and old.state in UNSETTLED)
    )
    stuck_alerted = unsettled_since is not None and (
        stuck or (before.stuck_alerted and old.state in UNSETTLED)
    )
    problem = snapshot.errored or snapshot.degraded or stuck_alerted
    recovery = before.problem and not problem

    episode = _episode_for(before, recent, now, rules)

    base = Transition(
        project_id=project_id,
        name=snapshot.name,
        kind=AlertKind.CHANGED,
        at=now,
        old_status=old.status,
        new_status=snapshot.status,
        snapshot=snapshot,
        episode=episode,
        offline=offline,
    )

    found: list[Transition] = []
    flapping = before.flapping
    if flapping:
        if changed:
            found.append(replace(base, kind=AlertKind.FLAPPING, problem=True, flap_count=len(changes)))
        elif not changes or now - changes[-1] >= rules.stable_after:
            flapping = False
            found.append(replace(base, kind=AlertKind.STABLE, problem=True, recovery=not problem))
    elif changed and len(changes) > rules.flap_threshold:
        flapping = True
        found.append(replace(base, kind=AlertKind.FLAPPING, problem=True, flap_count=len(changes)))
    else:
        if changed and sleep and not recovery and not snapshot.errored:
            found.append(replace(base, episode=0))
        elif changed:
            found.append(replace(base, problem=snapshot.errored or recovery, recovery=recovery))
        if stuck:
            found.append(replace(base, kind=AlertKind.STUCK, problem=True))
        if snapshot.degraded and not old.degraded:
            found.append(replace(base, kind=AlertKind.DEGRADED, problem=True))
        elif old.degraded and not snapshot.degraded and not changed:
            found.append(replace(base, kind=AlertKind.RECOVERED, problem=True, recovery=True))

    # A baseline (no spec known before) tells no change; the last settled spec is what changes count from.
    settled = before.settled_spec if before.settled_spec is not None else old.spec
    if settled is None:
        settled = snapshot.spec
    respecced = old.spec is not None and snapshot.spec is not None and old.spec != snapshot.spec
    # Told on its own when nothing else in an episode carries it (no status change, or only a nap).
    if respecced and (not changed or all(t.episode == 0 for t in found)):
        found.insert(0, replace(base, kind=AlertKind.SPEC_CHANGED))
    in_episode = [t for t in found if t.episode != 0]
    if in_episode and (respecced or in_episode[0].episode != before.episode or not before.episode_open):
        told = spec_changes(settled, snapshot.spec)
        if told:
            at = found.index(in_episode[0])
            found[at] = replace(found[at], changes=told)

    episode_open = before.episode_open
    if in_episode:
        episode_open = True
    elif before.episode_open and not changed and snapshot.state in SETTLED and not problem and not flapping:
        episode_open = False
    if not episode_open and snapshot.state in SETTLED and not problem and not flapping:
        settled = snapshot.spec
    tracked = Tracked(
        snapshot=snapshot,
        unsettled_since=unsettled_since,
        stuck_alerted=stuck_alerted,
        problem=problem,
        changes=changes,
        flapping=flapping,
        episode=episode if in_episode else before.episode,
        episode_open=episode_open,
        settled_spec=settled,
    )
    return tracked, found
