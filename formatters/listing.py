"""``/inference list``: every deployment of a project, one line each, problems first, paged with
Previous/Next buttons; ``list --problems`` shows only the problems."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import IntEnum

from bot.actions import ActionId, DeploymentRef, ListPage
from bot.gcore.models import Deployment, DeploymentStatus
from formatters.blocks import Block, Message, actions, button, context, header, section
from formatters.containers import needs_attention
from formatters.flavor import describe_flavor
from formatters.regions import NO_REGION_NAMES, region_label, region_labels
from formatters.status import STATUS_LOOKS, status_label, status_look
from formatters.text import code, escape_mrkdwn, plural, slack_date, truncate

# One section per deployment plus header, context and buttons stays far under 50 blocks and the text budget.
LIST_PAGE_SIZE = 20
_LINE_CHARS = 400
_ERROR_CHARS = 120
_REGIONS_SHOWN = 3


class Trouble(IntEnum):
    """Why a deployment leads the list, most urgent first; ``NONE`` for one that needs nothing."""

    ERRORED = 0
    DEGRADED = 1
    UNSETTLED = 2
    NONE = 3


# Statuses that are fine for a while and a problem when they last: shown with the problems.
_UNSETTLED = frozenset(
    {DeploymentStatus.DEPLOYING, DeploymentStatus.PARTIALLYDEPLOYED, DeploymentStatus.UNKNOWN}
)


def trouble_from(state: DeploymentStatus, *, errored: bool, ready: int, total: int, minimum: int) -> Trouble:
    """How urgent a deployment is, from what the list and the Home tab both know of it: a container
    reporting an error; ACTIVE with fewer replicas ready than wanted and than its minimum (what alerts call
    degraded); a status that should not last (deploying, partially deployed, unknown)."""
    if errored:
        return Trouble.ERRORED
    if state is DeploymentStatus.ACTIVE and ready < total and ready < minimum:
        return Trouble.DEGRADED
    if state in _UNSETTLED:
        return Trouble.UNSETTLED
    return Trouble.NONE


def trouble(deployment: Deployment) -> Trouble:
    """``trouble_from`` a deployment as Gcore lists it."""
    return trouble_from(
        deployment.state,
        errored=any(c.error_message for c in deployment.containers),
        ready=deployment.ready_replicas,
        total=deployment.total_replicas,
        minimum=_minimum(deployment),
    )


def what_is_wrong(
    kind: Trouble, errors: Sequence[tuple[int, str]], minimum: int, regions: Mapping[int, str]
) -> str | None:
    """The line under an errored or degraded deployment: the first region's error (``errors``: region id
    and message, each failing region) and how many more fail, or the minimum it is below."""
    if kind is Trouble.ERRORED:
        region, message = errors[0]
        more = f" (+{plural(len(errors) - 1, 'more region')})" if len(errors) > 1 else ""
        text = escape_mrkdwn(truncate(message.strip(), _ERROR_CHARS))
        return f"⚠️ *{region_label(region, regions)}:* {text}{more}"
    if kind is Trouble.DEGRADED:
        return f"🟠 degraded: below its minimum of {plural(minimum, 'ready replica')}"
    return None


def needing_attention(count: int) -> str:
    """``⚠️ 2 need attention``, for a count of deployments that need attention (at least one)."""
    return f"⚠️ {count} need{'s' if count == 1 else ''} attention"


def _minimum(deployment: Deployment) -> int:
    return sum(c.scale.min for c in deployment.containers)


def page_count(total: int) -> int:
    """How many pages ``total`` deployments take (at least one, for the empty list)."""
    return max(1, -(-total // LIST_PAGE_SIZE))


def render_deployment_list(
    deployments: list[Deployment],
    project_id: int,
    page: int,
    now: datetime,
    *,
    problems_only: bool = False,
    regions: Mapping[int, str] = NO_REGION_NAMES,
) -> Message:
    """Page ``page`` (0-based, clamped) of the project's deployments: those that need attention first
    (errored, degraded, then unsettled), each group by name; with ``problems_only``, only those."""
    ordered = sorted(deployments, key=lambda d: (trouble(d), d.name))
    if problems_only:
        ordered = [d for d in ordered if trouble(d) is not Trouble.NONE]
    pages = page_count(len(ordered))
    page = min(max(page, 0), pages - 1)
    shown = ordered[page * LIST_PAGE_SIZE : (page + 1) * LIST_PAGE_SIZE]

    title = "Deployments needing attention" if problems_only else "Deployments"
    blocks: list[Block] = [header(f"{title} in project {project_id}")]
    if not deployments:
        blocks.append(section("This project has no deployments yet."))
    else:
        blocks.append(context(_tally(deployments)))
        if not ordered:
            blocks.append(
                section(f"✅ None of the {plural(len(deployments), 'deployment')} needs attention.")
            )
        blocks.extend(_deployment_row(d, regions) for d in shown)
    footer = [f"Updated {slack_date(now, '{date_short_pretty} at {time_secs}')}"]
    if pages > 1:
        footer.insert(0, f"Page {page + 1} of {pages}")
    blocks.append(context(" · ".join(footer)))
    if pages > 1:
        blocks.append(_pager(project_id, page, pages, problems_only))
    if problems_only:
        text = f"{len(ordered)} of {plural(len(deployments), 'deployment')} in project {project_id} need attention"
    else:
        text = f"{plural(len(ordered), 'deployment')} in project {project_id}"
    if pages > 1:
        text += f" (page {page + 1} of {pages})"
    return Message(text=text, blocks=blocks)


def _pager(project_id: int, page: int, pages: int, problems_only: bool) -> Block:
    def value(to: int) -> str:
        # Defaults left out: buttons of lists posted before ``--problems`` read the same.
        return ListPage(project_id=project_id, page=to, problems=problems_only).model_dump_json(
            exclude_defaults=True
        )

    buttons = []
    if page > 0:
        buttons.append(button("◀ Previous", ActionId.LIST_PREVIOUS, value=value(page - 1)))
    if page < pages - 1:
        buttons.append(button("Next ▶", ActionId.LIST_NEXT, value=value(page + 1)))
    return actions("listing_pages", *buttons)


def _tally(deployments: list[Deployment]) -> str:
    counts = Counter(d.state for d in deployments)
    parts = [
        f"{STATUS_LOOKS[state].emoji} {count} {STATUS_LOOKS[state].label.lower()}"
        for state, count in counts.most_common()
    ]
    attention = sum(1 for d in deployments if trouble(d) is not Trouble.NONE)
    if attention:
        parts.append(needing_attention(attention))
    return f"{plural(len(deployments), 'deployment')}: " + ", ".join(parts)


def _why(deployment: Deployment, regions: Mapping[int, str]) -> str | None:
    """The second line of a deployment that needs attention: what is wrong, and where."""
    kind = trouble(deployment)
    if kind is Trouble.UNSETTLED:
        short = [c.region_id for c in deployment.containers if needs_attention(c)]
        return "⏳ not ready yet in " + region_labels(short, regions, most=_REGIONS_SHOWN) if short else None
    errors = [(c.region_id, c.error_message) for c in deployment.containers if c.error_message]
    return what_is_wrong(kind, errors, _minimum(deployment), regions)


def _deployment_row(deployment: Deployment, regions: Mapping[int, str]) -> Block:
    look = status_look(deployment)
    flavor = describe_flavor(deployment.flavor_name or "") or code(deployment.flavor_name or "unknown flavor")
    parts = [
        f"{look.emoji} *{escape_mrkdwn(deployment.name)}*",
        status_label(deployment),
        f"{deployment.ready_replicas}/{deployment.total_replicas} ready",
        flavor,
    ]
    if deployment.containers:
        parts.append(
            region_labels((c.region_id for c in deployment.containers), regions, most=_REGIONS_SHOWN)
        )
    line = " · ".join(parts)
    why = _why(deployment, regions)
    if why is not None:
        line += "\n" + why
    ref = DeploymentRef(project_id=deployment.project_id, name=deployment.name)
    return section(
        truncate(line, _LINE_CHARS), button("Status", ActionId.SHOW_CARD, value=ref.model_dump_json())
    )
