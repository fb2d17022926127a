"""The watcher: each tick, one paged list request per watched project, a pure diff, then record and notify.

The request count of a cycle is the number of list pages of the watched projects, whatever the number of
watched deployments. Projects are polled concurrently with a bound. When Gcore fails, nothing is claimed
about any deployment; the failure is counted, and after ``outage_alert_after`` polls in a row the
subscribed channels get one notice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.gcore import GcoreClient, GcoreError
from bot.notifier import Notifier
from bot.store import Store
from bot.transitions import ProjectDiff, Snapshot, Tracked, WatchRules, detect_transitions

log = logging.getLogger(__name__)

PROJECTS_AT_ONCE = 8


@dataclass
class CycleReport:
    """What one cycle did, for logs and tests."""

    projects: int = 0
    failed: list[int] = field(default_factory=list)
    transitions: int = 0
    led: bool = True


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
    ) -> None:
        self._gcore, self._store, self._notifier, self._clock = gcore, store, notifier, clock
        self._rules = rules
        self._interval = interval
        self._outage_alert_after = outage_alert_after
        self._memory: dict[int, tuple[dict[str, Tracked], datetime | None]] = {}

    async def run_cycle(self) -> CycleReport:
        """One poll of every watched project; never raises, so the schedule keeps going."""
        report = CycleReport()
        try:
            if not await self._store.try_lead():
                report.led = False
                return report
            projects = await self._store.watched_projects()
            for forgotten in set(self._memory) - set(projects):
                del self._memory[forgotten]
            gate = asyncio.Semaphore(PROJECTS_AT_ONCE)

            async def poll(project_id: int) -> int | None:
                async with gate:
                    return await self._poll_project(project_id)

            results = await asyncio.gather(*(poll(p) for p in projects))
            report.projects = len(projects)
            report.failed = [p for p, found in zip(projects, results, strict=True) if found is None]
            report.transitions = sum(found or 0 for found in results)
        except Exception:
            log.exception("watch cycle failed")
        finally:
            self._notifier.wake()
        return report

    async def _poll_project(self, project_id: int) -> int | None:
        """Poll one project; the number of transitions recorded, None when Gcore failed."""
        # A project this process has not polled yet, polled by an earlier run more than an interval ago:
        # whatever changed since happened while the bot was down.
        first_here = project_id not in self._memory
        try:
            deployments = await self._gcore.poll_deployment_statuses(project_id, force=first_here)
        except GcoreError as error:
            now = self._clock()
            log.warning("polling project %d failed: %s", project_id, error)
            notice = await self._store.record_failed_poll(project_id, now, self._outage_alert_after)
            if notice is not None:
                log.warning(
                    "project %d unreachable for %d polls; channels told", project_id, self._outage_alert_after
                )
            return None
        now = self._clock()
        if first_here:
            self._memory[project_id] = await self._store.load_project(project_id)
        previous, last_polled = self._memory[project_id]
        if deployments is None and not any(tracked.waiting_on_time for tracked in previous.values()):
            # Byte for byte the last answer, and no rule waits on the clock: nothing can have happened.
            diff, changed = ProjectDiff(tracked=dict(previous)), []
        else:
            if deployments is None:
                current = {name: tracked.snapshot for name, tracked in previous.items()}
            else:
                current = {d.name: Snapshot.of(d) for d in deployments}
            diff = detect_transitions(
                project_id,
                previous,
                current,
                now,
                self._rules,
                baseline=last_polled is None,
                offline=first_here and last_polled is not None and now - last_polled > self._interval,
            )
            changed = [name for name, tracked in diff.tracked.items() if previous.get(name) != tracked]
        recorded = await self._store.record_poll(project_id, diff, changed, now)
        self._memory[project_id] = (diff.tracked, now)
        return len(recorded)
