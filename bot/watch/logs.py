"""The last log lines a problem alert carries: fetched from Gcore at delivery, never at the alert's cost.

A fetch is bounded by ``FETCH_TIMEOUT_SECONDS``; whatever goes wrong (a timeout, Gcore down, the deployment
gone, an answer we cannot read) gives no lines, and the alert goes out without them. Each deployment's
failure is logged once per cause until a fetch of its logs works again, and only as a short code: never
what Gcore sent, never the key.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from bot.gcore.errors import DeploymentNotFound, GcoreError, failure_reason
from bot.gcore.models import LogEntry
from bot.watch.story import failing
from bot.watch.transitions import AlertKind, Transition

log = logging.getLogger(__name__)

# The longest a delivery waits for log lines before posting without them.
FETCH_TIMEOUT_SECONDS = 3.0


class LogSource(Protocol):
    """Where log lines come from: ``GcoreClient`` (the watcher's own), or a test's stand-in."""

    async def get_logs(
        self, project_id: int, name: str, *, limit: int = 50, offset: int = 0, region_id: int | None = None
    ) -> list[LogEntry]: ...


def shows_logs(t: Transition) -> bool:
    """Whether ``t`` is a problem whose logs may say why: a container error, stuck, degraded. Not a
    deletion (no logs left), flapping (a pattern, not a failure) or a project's outage."""
    return bool(t.name) and t.kind not in (AlertKind.DELETED, AlertKind.FLAPPING) and failing(t)


def affected_region(t: Transition) -> int | None:
    """The region whose logs tell most: the first with a container error; None (every region) otherwise."""
    if t.snapshot is not None and t.snapshot.errors:
        return t.snapshot.errors[0][0]
    return None


class AlertLogs:
    """Fetches the last ``lines`` log lines of a problem's deployment, in its affected region."""

    def __init__(
        self, source: LogSource, lines: int, *, timeout_seconds: float = FETCH_TIMEOUT_SECONDS
    ) -> None:
        self._source, self._lines, self._timeout = source, lines, timeout_seconds
        # (project, deployment, cause) already logged; a deployment's entries go when a fetch works.
        self._told: set[tuple[int, str, str]] = set()

    async def for_alert(self, t: Transition) -> list[LogEntry]:
        """The newest lines first, as Gcore answers; empty when the alert carries none or none came."""
        if self._lines <= 0 or not shows_logs(t):
            return []
        try:
            async with asyncio.timeout(self._timeout):
                entries = await self._source.get_logs(
                    t.project_id, t.name, limit=self._lines, region_id=affected_region(t)
                )
        except Exception as error:  # whatever it is, the alert goes out without logs
            self._tell(t, error)
            return []
        self._told = {told for told in self._told if told[:2] != (t.project_id, t.name)}
        return entries[: self._lines]

    def _tell(self, t: Transition, error: Exception) -> None:
        cause = _cause(error)
        key = (t.project_id, t.name, cause)
        if key in self._told:
            return
        self._told.add(key)
        log.warning(
            "alert for %s in project %d goes out without log lines: %s",
            t.name,
            t.project_id,
            cause,
            # Our own bug deserves its traceback; Gcore's failures are described by their code.
            exc_info=not isinstance(error, GcoreError | TimeoutError),
        )


def _cause(error: Exception) -> str:
    """A short code for why no lines came, with nothing Gcore sent in it."""
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, DeploymentNotFound):
        return "not_found"
    if isinstance(error, GcoreError):
        return failure_reason(error)
    return type(error).__name__
