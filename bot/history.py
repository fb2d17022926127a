"""A deployment's history as the store keeps it: its latest episodes, newest first, each with its steps.

Pure values: the store builds them (``bot/store/history.py``), ``formatters/history.py`` words them.

An episode is every transition of one deployment with the same ``episode`` (its opening time in ms): a
rollout, an incident. Scaling to zero and waking (``episode`` 0) is routine and belongs to none: the
history counts the naps instead of listing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.gcore.models import DeploymentStatus
from bot.watch.specs import Change
from bot.watch.transitions import Transition

# The episodes a history holds, and the steps it keeps of each: the first, the first problem, the latest.
MAX_EPISODES = 20
MAX_STEPS = 30
# The status a routine nap ends in (ACTIVE → PENDING: scaled to zero).
ASLEEP = DeploymentStatus.PENDING.value


@dataclass(frozen=True)
class EpisodeActor:
    """Who started an episode, and how: from Gcore's audit log (an email, or a user id when the log has
    none), or, ``in_slack``, from the bot's own audit (``who`` is the Slack user who confirmed a start or
    stop, to be mentioned)."""

    who: str
    action: str
    at: datetime | None = None
    in_slack: bool = False


@dataclass(frozen=True)
class Episode:
    """One episode: ``steps`` oldest first (at least one), of ``step_count`` in all."""

    id: int
    steps: tuple[Transition, ...]
    step_count: int
    # Who started it, from Gcore's audit log; None when unknown (never looked up, or nobody found).
    actor: EpisodeActor | None = None

    @property
    def began(self) -> datetime:
        """When the episode opened: its first step."""
        return self.steps[0].at

    @property
    def changes(self) -> tuple[Change, ...]:
        """What changed in the deployment's spec during the episode: each step counts its changes from the
        last settled state, so the latest step that has any tells them all."""
        return next((step.changes for step in reversed(self.steps) if step.changes), ())

    @property
    def left_out(self) -> int:
        """Steps the store holds but the history does not (from the middle of a long episode)."""
        return self.step_count - len(self.steps)


@dataclass(frozen=True)
class History:
    """A deployment's latest episodes, newest first, and its routine naps.

    ``older`` says whether episodes older than those held exist. ``naps`` counts the times it was
    scaled to zero since ``naps_since`` (its first counted nap): over the episodes held when there are
    older ones, else ever.
    """

    project_id: int
    name: str
    episodes: tuple[Episode, ...] = ()
    older: bool = False
    naps: int = 0
    naps_since: datetime | None = None
