"""The bot's Home tab: every deployment a channel watches, by project, those that need attention first, with
their status, replicas, the channels watching, and buttons. Rendered from the watcher's last snapshots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.actions import ActionId, CardRef, DeploymentRef
from bot.watch.subscriptions import WatchedDeployment
from bot.watch.transitions import Snapshot
from formatters.alerts import channel_link, status_words
from formatters.blocks import Block, actions, button, context, divider, header, section
from formatters.limits import MAX_BLOCKS_PER_VIEW
from formatters.links import portal_button
from formatters.listing import Trouble, needing_attention, trouble_from, what_is_wrong
from formatters.operations import operation_button
from formatters.regions import NO_REGION_NAMES
from formatters.text import escape_mrkdwn, plural, slack_date

# Channels named on one deployment's line; the rest are counted.
_CHANNELS_SHOWN = 5
# The header and the summary above the projects, and the note below them when some are left out.
_FRAME_BLOCKS = 3
_PROJECT_BLOCKS = 2  # a divider and the project's line


def trouble_of(snapshot: Snapshot | None) -> Trouble:
    """How urgent a watched deployment is, ranked as ``/inference list`` ranks it; one not seen yet needs
    nothing."""
    if snapshot is None:
        return Trouble.NONE
    return trouble_from(
        snapshot.state,
        errored=bool(snapshot.errors),
        ready=snapshot.ready,
        total=snapshot.total,
        minimum=snapshot.min_ready,
    )


def render_home(
    watched: Sequence[WatchedDeployment],
    *,
    now: datetime | None,
    operator: bool = False,
    portal_url: str | None = None,
    regions: Mapping[int, str] = NO_REGION_NAMES,
) -> dict[str, Any]:
    """The Home tab's view. ``now`` is when it is published (None leaves the time out: what a digest of its
    content is taken of); ``operator`` adds Stop or Start buttons; ``portal_url`` (``GCORE_PORTAL_URL``)
    adds Open in Gcore; ``regions`` names the regions of errors. Past Slack's 100 blocks, those that need
    attention are kept and the rest counted."""
    blocks: list[Block] = [header("Watched deployments")]
    if not watched:
        blocks.append(
            section(
                "No channel watches a deployment yet. In a channel, `/inference watch my-instance` watches "
                "one and `/inference watch --all` every deployment of a project; each shows up here with "
                "its status."
            )
        )
        if now is not None:
            blocks.append(context(_updated(now)))
        return {"type": "home", "blocks": blocks}

    rows = {
        (d.project_id, d.name): _row(d, operator=operator, portal_url=portal_url, regions=regions)
        for d in watched
    }
    shown = _fitting(watched, rows)
    blocks.append(context(_summary(watched, now)))
    for project_id in sorted({d.project_id for d in shown}):
        in_project = [d for d in watched if d.project_id == project_id]
        blocks.append(divider())
        blocks.append(section(f"*Project {project_id}* · {_tally(in_project)}"))
        for deployment in sorted(
            (d for d in shown if d.project_id == project_id), key=lambda d: (trouble_of(d.snapshot), d.name)
        ):
            blocks.extend(rows[(deployment.project_id, deployment.name)])
    kept = {(d.project_id, d.name) for d in shown}
    left_out = [d for d in watched if (d.project_id, d.name) not in kept]
    if left_out:
        blocks.append(context(_left_out(left_out)))
    return {"type": "home", "blocks": blocks}


def _fitting(
    watched: Sequence[WatchedDeployment], rows: Mapping[tuple[int, str], list[Block]]
) -> list[WatchedDeployment]:
    """The deployments whose ``rows`` fit in one view, those that need attention first: once one does not
    fit, neither does any after it."""
    ranked = sorted(watched, key=lambda d: (trouble_of(d.snapshot), d.project_id, d.name))
    used, shown = _FRAME_BLOCKS, []
    projects: set[int] = set()
    for deployment in ranked:
        cost = len(rows[(deployment.project_id, deployment.name)])
        cost += 0 if deployment.project_id in projects else _PROJECT_BLOCKS
        if used + cost > MAX_BLOCKS_PER_VIEW:
            break
        used += cost
        projects.add(deployment.project_id)
        shown.append(deployment)
    return shown


def _needing_attention(deployments: Sequence[WatchedDeployment]) -> int:
    return sum(1 for d in deployments if trouble_of(d.snapshot) is not Trouble.NONE)


def _attention(count: int) -> str:
    return needing_attention(count) if count else "✅ all fine"


def _updated(now: datetime) -> str:
    return (
        f"Updated {slack_date(now, '{date_short_pretty} at {time_secs}')}; it updates itself on every change"
    )


def _summary(watched: Sequence[WatchedDeployment], now: datetime | None) -> str:
    projects = len({d.project_id for d in watched})
    parts = [
        f"{plural(len(watched), 'deployment')} watched in {plural(projects, 'project')}",
        _attention(_needing_attention(watched)),
    ]
    if now is not None:
        parts.append(_updated(now))
    return " · ".join(parts)


def _tally(deployments: Sequence[WatchedDeployment]) -> str:
    return f"{plural(len(deployments), 'deployment')} · {_attention(_needing_attention(deployments))}"


def _line(deployment: WatchedDeployment, regions: Mapping[int, str]) -> str:
    name = f"*{escape_mrkdwn(deployment.name)}*"
    snapshot = deployment.snapshot
    if snapshot is None:
        lines = [f"{name} · ⏳ not seen yet: its status shows after the watcher's next poll"]
    else:
        lines = [f"{name} · {status_words(snapshot.status)} · {snapshot.ready}/{snapshot.total} ready"]
        why = what_is_wrong(trouble_of(snapshot), snapshot.errors, snapshot.min_ready, regions)
        if why is not None:
            lines.append(why)
    lines.append("Watched in " + _channels(deployment.channels))
    return "\n".join(lines)


def _channels(channel_ids: Sequence[str]) -> str:
    named = ", ".join(channel_link(c) for c in channel_ids[:_CHANNELS_SHOWN])
    more = len(channel_ids) - _CHANNELS_SHOWN
    return named + (f" and {plural(more, 'more channel')}" if more > 0 else "")


def _row(
    deployment: WatchedDeployment, *, operator: bool, portal_url: str | None, regions: Mapping[int, str]
) -> list[Block]:
    """A deployment's line with its View details button, and its other buttons below when it has any."""
    ref = DeploymentRef(project_id=deployment.project_id, name=deployment.name)
    details = button(
        "View details",
        ActionId.DETAILS,
        value=CardRef(project_id=ref.project_id, name=ref.name).model_dump_json(exclude_defaults=True),
    )
    elements = []
    portal = portal_button(portal_url, ref.project_id, ref.name)
    if portal is not None:
        elements.append(portal)
    operate = operation_button(ref, deployment.snapshot.state) if operator and deployment.snapshot else None
    if operate is not None:
        elements.append(operate)
    line = section(_line(deployment, regions), details)
    # One block id per deployment: Slack refuses a view whose block ids repeat.
    return [line, actions(f"home:{ref.project_id}:{ref.name}", *elements)] if elements else [line]


def _left_out(left_out: Sequence[WatchedDeployment]) -> str:
    trouble = _needing_attention(left_out)
    which = f", {trouble} of them needing attention" if trouble else ", none needing attention"
    return (
        f"…and {plural(len(left_out), 'more watched deployment')}{which}: the Home tab holds only so much. "
        "`/inference list --project N` in a channel shows a project's every deployment."
    )
