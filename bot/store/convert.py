"""Between table rows and the domain's values."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from bot.store.engine import utc
from bot.store.schema import DeploymentStateRow, SubscriptionRow, TransitionRow
from bot.watch.specs import Change, spec_dict, spec_from
from bot.watch.subscriptions import Subscription
from bot.watch.transitions import AlertKind, Snapshot, Tracked, Transition


def snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "name": snapshot.name,
        "status": snapshot.status,
        "ready": snapshot.ready,
        "total": snapshot.total,
        "min_ready": snapshot.min_ready,
        "errors": [list(error) for error in snapshot.errors],
    }


def snapshot_from(data: dict[str, Any]) -> Snapshot:
    return Snapshot(
        name=data["name"],
        status=data["status"],
        ready=data.get("ready", 0),
        total=data.get("total", 0),
        min_ready=data.get("min_ready", 0),
        errors=tuple((int(region), str(message)) for region, message in data.get("errors", [])),
    )


def to_subscription(row: SubscriptionRow) -> Subscription:
    return Subscription(
        id=row.id,
        channel_id=row.channel_id,
        project_id=row.project_id,
        target=row.target,
        only_problems=row.only_problems,
        flat=row.flat,
        created_by=row.created_by,
        created_at=utc(row.created_at),
        paused_reason=row.paused_reason,
        notify=tuple(row.notify or ()),
        muted=tuple(row.muted or ()),
    )


def state_spec_json(tracked: Tracked) -> dict[str, Any] | None:
    """The ``deployment_states.spec`` of a state: its spec now, and the settled one when that differs."""
    now, settled = tracked.snapshot.spec, tracked.settled_spec
    if now is None:
        return None
    data: dict[str, Any] = {"now": spec_dict(now)}
    if settled is not None and settled != now:
        data["settled"] = spec_dict(settled)
    return data


def to_tracked(row: DeploymentStateRow) -> Tracked:
    """A stored state; one stored before specs were kept (``spec`` NULL) has none, so its next poll is a
    baseline of its spec, not a change."""
    stored = row.spec or {}
    spec = spec_from(stored["now"]) if "now" in stored else None
    settled = spec_from(stored["settled"]) if "settled" in stored else spec
    return Tracked(
        snapshot=replace(snapshot_from(row.snapshot), spec=spec),
        unsettled_since=utc(row.unsettled_since) if row.unsettled_since else None,
        stuck_alerted=row.stuck_alerted,
        problem=row.problem,
        changes=tuple(datetime.fromisoformat(moment) for moment in row.changes),
        flapping=row.flapping,
        episode=row.episode,
        episode_open=row.episode_open,
        settled_spec=settled,
    )


def changes_json(changes: tuple[Change, ...]) -> list[dict[str, str]] | None:
    """A transition's spec changes as stored (None when there are none); nothing secret is in a Change."""
    if not changes:
        return None
    return [
        {key: value for key, value in asdict(change).items() if value not in (None, "")} for change in changes
    ]


def changes_from(data: list[Any] | None) -> tuple[Change, ...]:
    return tuple(
        Change(
            field=str(item["field"]),
            item=str(item.get("item", "")),
            old=item.get("old"),
            new=item.get("new"),
            how=str(item.get("how", "changed")),
        )
        for item in data or ()
        if isinstance(item, dict) and "field" in item
    )


# Transition fields stored as they are; kind, snapshot and changes are converted.
TRANSITION_COLUMNS = (
    "project_id",
    "name",
    "old_status",
    "new_status",
    "episode",
    "problem",
    "recovery",
    "offline",
    "flap_count",
    "detail",
)


def to_transition(row: TransitionRow) -> Transition:
    return Transition(
        **{column: getattr(row, column) for column in TRANSITION_COLUMNS},
        kind=AlertKind(row.kind),
        at=utc(row.at),
        since=utc(row.since) if row.since else None,
        snapshot=snapshot_from(row.snapshot) if row.snapshot else None,
        changes=changes_from(row.changes),
    )
