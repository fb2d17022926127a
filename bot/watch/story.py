"""How an episode is told in a channel: which of its steps wake people. Pure, tested without servers.

A channel hears the first problem of an episode and its recovery, flapping starting and ending, a deletion,
and a project's outage and its end. Every other step is routine: it goes into the episode's thread and
timeline, where it notifies no one.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.watch.transitions import AlertKind, Transition

_ALWAYS = frozenset(
    {AlertKind.DELETED, AlertKind.STABLE, AlertKind.GCORE_UNREACHABLE, AlertKind.GCORE_REACHABLE}
)


def notifies(step: Transition, earlier: Sequence[Transition]) -> bool:
    """Whether ``step`` wakes people, given the ``earlier`` steps of its episode the channel was sent."""
    if step.kind in _ALWAYS:
        return True
    if step.kind is AlertKind.FLAPPING:
        return not any(e.kind is AlertKind.FLAPPING for e in earlier)
    if step.recovery:
        return not any(e.recovery for e in earlier)
    if step.problem:
        return not any(e.problem and not e.recovery for e in earlier)
    return False


def failing(step: Transition) -> bool:
    """Whether the deployment is in trouble as of ``step``: the state a timeline's owners are told of."""
    if step.kind in (AlertKind.STUCK, AlertKind.DEGRADED, AlertKind.FLAPPING, AlertKind.DELETED):
        return True
    snapshot = step.snapshot
    return (
        step.problem
        and not step.recovery
        and snapshot is not None
        and (snapshot.errored or snapshot.degraded)
    )
