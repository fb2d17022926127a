"""What a channel watches: pure data shared by the store, the handlers and the formatters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.watch.transitions import Snapshot

# The target of `watch --all`; no deployment name can be "*".
ALL_DEPLOYMENTS = "*"


@dataclass(frozen=True)
class Subscription:
    """A channel's wish to hear about one deployment, or all of a project's (``target == "*"``)."""

    id: int
    channel_id: str
    project_id: int
    target: str
    only_problems: bool
    flat: bool
    created_by: str
    created_at: datetime
    paused_reason: str | None
    # Mentions (``<@U…>``, ``<!subteam^S…>``) on problem alerts and their recoveries, never on routine ones.
    notify: tuple[str, ...] = ()
    # Deployments a ``--all`` subscription leaves out.
    muted: tuple[str, ...] = ()

    @property
    def watches_all(self) -> bool:
        """True for ``watch --all``."""
        return self.target == ALL_DEPLOYMENTS


class SubscribeOutcome(StrEnum):
    """What ``subscribe`` did."""

    CREATED = "created"
    RESUMED = "resumed"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class WatchedDeployment:
    """A deployment some channels watch (by name, or through ``--all`` without muting it), as the watcher
    last saw it: what the Home tab lists."""

    project_id: int
    name: str
    # The watching channels, in order.
    channels: tuple[str, ...]
    # None until the watcher has seen it (a new subscription before its first poll).
    snapshot: Snapshot | None
