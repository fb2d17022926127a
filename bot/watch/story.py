"""How an episode is told in a channel: which of its steps wake people. Pure, tested without servers.

A channel hears the first problem of each run of trouble in an episode (the first since the episode began
or since its last recovery) and the recovery that ends the run, flapping starting and ending, a deletion,
and a project's outage and its end. Every other step is routine, a further problem of the same run
included: it goes into the episode's thread and timeline, where it notifies no one.
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
    run = _since_last_recovery(earlier)
    if step.recovery:
        return any(e.problem for e in run)
    if step.problem:
        return not any(e.problem for e in run)
    return False


def _since_last_recovery(earlier: Sequence[Transition]) -> Sequence[Transition]:
    for index in range(len(earlier) - 1, -1, -1):
        if earlier[index].recovery or earlier[index].kind is AlertKind.STABLE:
            return earlier[index + 1 :]
    return earlier


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
