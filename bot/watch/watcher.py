"""The watcher: each tick, one paged list request per watched project this replica leases, a pure diff, then
record and notify.

With PostgreSQL the replicas share the watched projects (``bot.store.leadership``): each polls the ones it
leases. The request count of a cycle is the number of list pages of those projects, whatever the number of
watched deployments, plus one GET per deployment a listing lacks (a deletion is believed only when that GET
answers 404). Projects are polled concurrently with a bound. When Gcore fails, or a listing does not add
up to its count, nothing is claimed about any deployment; the failure is counted with its reason, and after
``outage_alert_after`` polls in a row the subscribed channels get one notice of why and since when.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.errors import DatabaseUnavailable
from bot.gcore.client import GcoreClient, PageShape, StatusListing
from bot.gcore.errors import DeploymentNotFound, GcoreError, failure_reason
from bot.metrics import Metrics
from bot.store import NAME_MAX_CHARS, NotLeader, Store
from bot.store.reach import failures_logged
from bot.tasks import TaskSet
from bot.watch.home import HomePublisher
from bot.watch.notifier import Notifier
from bot.watch.transitions import ProjectDiff, Snapshot, Tracked, WatchRules, detect_transitions

log = logging.getLogger(__name__)

PROJECTS_AT_ONCE = 8
# Intervals without a poll after which a change is told as having happened while the bot was offline. A
# project handed to another replica, or taken over from a dead one, goes unpolled for up to two intervals
# and a cycle: that is no outage.
OFFLINE_AFTER = 3
# Deployments a listing lacks that one poll checks by GET; the rest wait, unchanged, for the next poll.
MAX_DELETION_CHECKS = 50


@dataclass
class CycleReport:
    """What one cycle did, for logs and tests."""

    projects: int = 0
    failed: list[int] = field(default_factory=list)
    transitions: int = 0


@dataclass
class _ProjectMemory:
    """What this process remembers of a project between polls.

    ``pages`` describes the last listing when every deployment in it was read and accounted for; otherwise
    it is empty, so the next poll reads the listing again instead of trusting "unchanged".
    """

    tracked: dict[str, Tracked]
    last_polled: datetime | None
    pages: tuple[PageShape, ...] = ()
    # (deployment name or position, cause) of the items already logged as unreadable.
    logged_unreadable: set[tuple[str, str]] = field(default_factory=set)
    # Deployments listed but never readable: once they are, they are not new.
    never_read: set[str] = field(default_factory=set)


@dataclass
class _Reading:
    """A listing read for the diff: the deployments seen, and the names whose state is unknown this poll."""

    current: dict[str, Snapshot]
    unknown: set[str]
    complete: bool


class Watcher:
    """Polls watched projects and records what changed; built from its collaborators, like everything."""

    def __init__(
        self,
        gcore: GcoreClient,
        store: Store,
        notifier: Notifier,
        *,
        clock: Callable[[], datetime],
        rules: WatchRules,
        interval: timedelta,
        outage_alert_after: int,
        allows_project: Callable[[int], bool],
        allows_channel: Callable[[str], bool],
        digest_key: bytes = b"",
        home: HomePublisher | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """``digest_key`` (``bot.watch.specs.digest_key``) keys the digests of what in a spec may be
        secret, so the stored ones cannot be checked against guesses. ``allows_project`` is
        ALLOWED_PROJECT_IDS: a subscription made before the setting changed is not polled; ``allows_channel``
        is ALLOWED_CHANNEL_IDS: a channel no longer allowed gets no alerts. ``home`` is woken
        after each poll this replica leads, to republish the Home tabs whose content changed. ``metrics``
        records each cycle's duration, the projects it polled and the transitions it recorded."""
        self._gcore, self._store, self._notifier, self._clock = gcore, store, notifier, clock
        self._allows_project, self._allows_channel = allows_project, allows_channel
        # Watched projects no longer allowed, each logged once.
        self._refused: set[int] = set()
        self._rules, self._digest_key = rules, digest_key
        self._interval = interval
        self._outage_alert_after = outage_alert_after
        self._home = home
        self._metrics = metrics or Metrics()
        self._memory: dict[int, _ProjectMemory] = {}
        self._cycles = TaskSet()

    async def run_cycle(self) -> CycleReport:
        """One poll of every watched project this replica leases; never raises, so the schedule keeps
        going. A stop's drain waits for it (``finish``) or cancels it (``aclose``)."""
        return await self._cycles.keep(asyncio.ensure_future(self._run_cycle()))

    def in_flight(self) -> int:
        """1 while a cycle runs, else 0."""
        return len(self._cycles)

    async def finish(self) -> None:
        """Wait for the cycle under way, if one is."""
        await self._cycles.wait_all()

    async def aclose(self) -> None:
        """Cancel the cycle under way: what it did not record is polled again on the next start."""
        await self._cycles.cancel_all()

    async def _run_cycle(self) -> CycleReport:
        report = CycleReport()
        started = time.perf_counter()
        try:
            leading = await self._store.lead()
            leases = await self._store.lease_projects(self._allowed(await self._store.watched_projects()))
            projects = leases.projects
            report.projects = len(projects)
            # A project polled elsewhere meanwhile is read from the store again when it comes back here.
            for forgotten in (set(self._memory) - set(projects)) | leases.taken:
                self._memory.pop(forgotten, None)
            gate = asyncio.Semaphore(PROJECTS_AT_ONCE)

            async def poll(project_id: int) -> int | None:
                # Each poll ends inside the cycle, whatever another raises: one left running would overlap
                # the next cycle's poll of its project and record its transitions twice.
                async with gate:
                    with failures_logged(log, "polling project %d failed", project_id):
                        return await self._poll_project(project_id)
                    return None

            results = await asyncio.gather(*(poll(p) for p in projects))
            report.failed = [p for p, found in zip(projects, results, strict=True) if found is None]
            report.transitions = sum(found or 0 for found in results)
            if leading and self._home is not None:
                # Also without transitions: replicas, subscriptions and mutes change what it shows.
                self._home.wake()
        except DatabaseUnavailable:
            pass  # the store has said so, once for the outage
        except asyncio.CancelledError:
            # The bot is stopping mid-poll: what was not recorded is polled again on the next start. Not
            # raised on, so the scheduler does not log it as the job's failure.
            log.info("watch cycle cancelled: the bot is stopping")
        except Exception:
            log.exception("watch cycle failed")
        finally:
            self._notifier.wake()
            self._metrics.leased_projects.set(report.projects)
            self._metrics.watch_cycle_seconds.observe(time.perf_counter() - started)
        return report

    def _allowed(self, watched: list[int]) -> list[int]:
        """The watched projects ALLOWED_PROJECT_IDS still allows; each one it no longer does is logged once."""
        refused = {project_id for project_id in watched if not self._allows_project(project_id)}
        for project_id in sorted(refused - self._refused):
            log.warning("project %d is watched but not in ALLOWED_PROJECT_IDS; not polling it", project_id)
        self._refused = refused
        return [project_id for project_id in watched if project_id not in refused]

    async def _poll_project(self, project_id: int) -> int | None:
        """Poll one project; the number of transitions recorded, None when Gcore failed."""
        # Taken out while the poll runs and put back when it ends well: after a failure (a commit whose
        # answer was lost, say) the next poll reads the project from the store again.
        memory = self._memory.pop(project_id, None)
        # A project this process has not polled yet, polled by an earlier run more than OFFLINE_AFTER
        # intervals ago: whatever changed since happened while the bot was down.
        first_here = memory is None
        if memory is None:
            tracked, last_polled = await self._store.load_project(project_id)
            memory = _ProjectMemory(tracked, last_polled)
        previous = memory.tracked
        try:
            listing = await self._gcore.list_statuses(project_id, memory.pages)
            reading = None if listing.deployments is None else await self._read(project_id, listing, memory)
        except GcoreError as error:
            reason = failure_reason(error)
            log.warning("polling project %d failed (%s): %s", project_id, reason, error)
            try:
                notice = await self._store.record_failed_poll(
                    project_id,
                    self._clock(),
                    self._outage_alert_after,
                    reason=reason,
                    allows_channel=self._allows_channel,
                )
            except NotLeader:
                return self._lease_lost(project_id)
            if not first_here:
                self._memory[project_id] = memory  # a failed poll changed none of what it remembers
            if notice is not None:
                self._metrics.count_transitions([notice])
                log.warning(
                    "project %d unreachable for %d polls (%s); channels told",
                    project_id,
                    self._outage_alert_after,
                    reason,
                )
            return None
        now = self._clock()
        if reading is None and not any(tracked.waiting_on_time for tracked in previous.values()):
            # Byte for byte the last answer, and no rule waits on the clock: nothing can have happened.
            diff, changed = ProjectDiff(tracked=dict(previous)), []
        else:
            if reading is None:
                reading = _Reading({n: t.snapshot for n, t in previous.items()}, set(), complete=True)
            diff = detect_transitions(
                project_id,
                previous,
                reading.current,
                now,
                self._rules,
                baseline=memory.last_polled is None,
                offline=first_here
                and memory.last_polled is not None
                and now - memory.last_polled > OFFLINE_AFTER * self._interval,
                unknown=reading.unknown,
                never_read=memory.never_read,
            )
            changed = [name for name, tracked in diff.tracked.items() if previous.get(name) != tracked]
            memory.never_read = {name for name in reading.unknown if name not in diff.tracked}
        try:
            recorded = await self._store.record_poll(
                project_id, diff, changed, now, allows_channel=self._allows_channel
            )
        except NotLeader:
            return self._lease_lost(project_id)
        self._metrics.count_transitions(recorded)
        memory.tracked, memory.last_polled = diff.tracked, now
        memory.pages = listing.pages if reading is None or reading.complete else ()
        self._memory[project_id] = memory
        return len(recorded)

    def _lease_lost(self, project_id: int) -> int:
        """The project's lease went to another replica during this poll: its write was refused, and what
        this replica remembered of the project is not put back."""
        log.info("project %d: leased by another replica now; leaving its poll to it", project_id)
        return 0

    async def _read(self, project_id: int, listing: StatusListing, memory: _ProjectMemory) -> _Reading:
        """The deployments of a listing, with what it could not read held as unknown, and each deployment
        it lacks checked by GET: only a 404 lets the diff call it deleted."""
        assert listing.deployments is not None
        current: dict[str, Snapshot] = {}
        unknown: set[str] = set()
        problems: set[tuple[str, str]] = set()
        for item in listing.unreadable:
            problems.add((item.name or f"item {item.position}", item.cause))
            if item.name is not None:
                unknown.add(item.name)
        for deployment in listing.deployments:
            if len(deployment.name) > NAME_MAX_CHARS:
                problems.add((deployment.name[:NAME_MAX_CHARS] + "…", f"name longer than {NAME_MAX_CHARS}"))
                continue
            current[deployment.name] = Snapshot.of(deployment, self._digest_key)
        for who, cause in sorted(problems - memory.logged_unreadable):
            log.warning(
                "project %d: skipping deployment %r, which cannot be read (%s)", project_id, who, cause
            )
        memory.logged_unreadable = problems

        lacking = [name for name in memory.tracked if name not in current and name not in unknown]
        complete = not problems
        for name in lacking[MAX_DELETION_CHECKS:]:
            unknown.add(name)
        checks = lacking[:MAX_DELETION_CHECKS]
        answers = await asyncio.gather(
            *(self._gcore.get_deployment_status(project_id, name) for name in checks), return_exceptions=True
        )
        for name, answer in zip(checks, answers, strict=True):
            if isinstance(answer, DeploymentNotFound):
                continue  # gone: the diff calls it deleted
            complete = False
            if isinstance(answer, BaseException):
                if not isinstance(answer, GcoreError):
                    raise answer
                log.warning(
                    "project %d: could not check whether %r was deleted: %s", project_id, name, answer
                )
                unknown.add(name)
            else:
                log.warning("project %d: the listing lacks %r, but it exists; not deleted", project_id, name)
                current[name] = Snapshot.of(answer, self._digest_key)
        return _Reading(current, unknown, complete=complete and len(lacking) <= MAX_DELETION_CHECKS)
