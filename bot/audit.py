"""Operators' actions as values: what can be done to a deployment, and the audit row each action and each
refusal of one leaves (who, what, which deployment, when, how it ended). Pure: the store keeps them
(``bot/store/audit.py``), ``formatters/audit.py`` words them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.gcore.models import DeploymentStatus


class Operation(StrEnum):
    """What an operator can do to a deployment."""

    STOP = "stop"
    START = "start"


class AuditResult(StrEnum):
    """How an action ended: ``pending`` while Gcore has not answered (or the bot died before it heard);
    ``unknown`` when its answer was lost (a 5xx, a dropped connection, a timeout), so it may have acted."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"
    REFUSED = "refused"


# The rows of actions Gcore took, or may have taken: the 2-minute guard and the watcher's actor count them.
MAY_HAVE_ACTED = frozenset({AuditResult.PENDING, AuditResult.DONE, AuditResult.UNKNOWN})


# Stop while it serves or is rolling out (scaled to zero still serves: it wakes on the next request); start
# once it is stopped. Deleting and unknown statuses offer neither.
_STOPPABLE = frozenset(
    {
        DeploymentStatus.ACTIVE,
        DeploymentStatus.PARTIALLYDEPLOYED,
        DeploymentStatus.DEPLOYING,
        DeploymentStatus.PENDING,
    }
)
_STARTABLE = frozenset({DeploymentStatus.DISABLED})


def operation_for(state: DeploymentStatus) -> Operation | None:
    """The action a deployment in ``state`` offers: Stop, Start, or none."""
    if state in _STOPPABLE:
        return Operation.STOP
    if state in _STARTABLE:
        return Operation.START
    return None


@dataclass(frozen=True)
class AuditEntry:
    """One audit row. ``detail`` says why it was refused or failed, as data (a setting's problem such as
    ``not_operator``, a failure code such as ``http:500``); ``key`` is the confirmation's idempotency key,
    None for a refusal before any confirmation."""

    at: datetime
    user_id: str
    action: Operation
    project_id: int
    name: str
    result: AuditResult
    detail: str | None = None
    key: str | None = None
    channel_id: str | None = None
    team_id: str | None = None
