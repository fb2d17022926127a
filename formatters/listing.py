"""``/inference list``: every deployment of a project, one line each, paged with Previous/Next buttons."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from bot.actions import ActionId, DeploymentRef, ListPage
from bot.gcore.models import Deployment
from formatters.blocks import Block, Message, actions, button, context, header, section
from formatters.flavor import describe_flavor
from formatters.status import STATUS_LOOKS, status_label, status_look
from formatters.text import code, escape_mrkdwn, plural, slack_date, truncate

# One section per deployment plus header, context and buttons stays far under 50 blocks and the text budget.
LIST_PAGE_SIZE = 20
_LINE_CHARS = 400


def page_count(total: int) -> int:
    """How many pages ``total`` deployments take (at least one, for the empty list)."""
    return max(1, -(-total // LIST_PAGE_SIZE))


def render_deployment_list(
    deployments: list[Deployment], project_id: int, page: int, now: datetime
) -> Message:
    """Page ``page`` (0-based, clamped) of the project's deployments, sorted by name."""
    ordered = sorted(deployments, key=lambda d: d.name)
    pages = page_count(len(ordered))
    page = min(max(page, 0), pages - 1)
    shown = ordered[page * LIST_PAGE_SIZE : (page + 1) * LIST_PAGE_SIZE]

    blocks: list[Block] = [header(f"Deployments in project {project_id}")]
    if not ordered:
        blocks.append(section("This project has no deployments yet."))
    else:
        blocks.append(context(_tally(ordered)))
        blocks.extend(_deployment_row(d) for d in shown)
    footer = [f"Updated {slack_date(now, '{date_short_pretty} at {time_secs}')}"]
    if pages > 1:
        footer.insert(0, f"Page {page + 1} of {pages}")
    blocks.append(context(" · ".join(footer)))
    if pages > 1:
        buttons = []
        if page > 0:
            buttons.append(
                button(
                    "◀ Previous",
                    ActionId.LIST_PREVIOUS,
                    value=ListPage(project_id=project_id, page=page - 1).model_dump_json(),
                )
            )
        if page < pages - 1:
            buttons.append(
                button(
                    "Next ▶",
                    ActionId.LIST_NEXT,
                    value=ListPage(project_id=project_id, page=page + 1).model_dump_json(),
                )
            )
        blocks.append(actions("listing_pages", *buttons))
    text = f"{plural(len(ordered), 'deployment')} in project {project_id}"
    if pages > 1:
        text += f" (page {page + 1} of {pages})"
    return Message(text=text, blocks=blocks)


def _tally(deployments: list[Deployment]) -> str:
    counts = Counter(d.state for d in deployments)
    parts = [
        f"{STATUS_LOOKS[state].emoji} {count} {STATUS_LOOKS[state].label.lower()}"
        for state, count in counts.most_common()
    ]
    return f"{plural(len(deployments), 'deployment')}: " + ", ".join(parts)


def _deployment_row(deployment: Deployment) -> Block:
    look = status_look(deployment)
    flavor = describe_flavor(deployment.flavor_name or "") or code(deployment.flavor_name or "unknown flavor")
    line = (
        f"{look.emoji} *{escape_mrkdwn(deployment.name)}* · {status_label(deployment)} · "
        f"{deployment.ready_replicas}/{deployment.total_replicas} ready · {flavor}"
    )
    ref = DeploymentRef(project_id=deployment.project_id, name=deployment.name)
    return section(
        truncate(line, _LINE_CHARS), button("Status", ActionId.SHOW_CARD, value=ref.model_dump_json())
    )
