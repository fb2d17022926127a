"""The deployment card (``/inference status``) and its details modal: pure functions from a model to Block Kit."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.actions import ActionId, CardRef, DeploymentRef
from bot.gcore.models import Deployment, DeploymentStatus
from formatters.alerts import unwatch_confirmation
from formatters.blocks import (
    Block,
    Message,
    actions,
    button,
    context,
    divider,
    fields_section,
    header,
    plain_text,
    section,
)
from formatters.containers import container_sections, region_summary
from formatters.flavor import describe_flavor
from formatters.limits import MAX_BLOCKS_PER_VIEW, MAX_SECTION_TEXT, MAX_VIEW_TITLE
from formatters.links import portal_button, safe_url
from formatters.operations import operation_button
from formatters.probes import merged_probe_summaries, probe_details, probes
from formatters.regions import NO_REGION_NAMES, region_label
from formatters.status import status_label, status_look
from formatters.text import (
    MASK,
    code,
    escape_mrkdwn,
    parse_timestamp,
    plain,
    plural,
    seconds,
    slack_date,
    truncate,
)

# How much of each long value the card shows; the details modal shows more.
CARD_DESCRIPTION_CHARS = 300
CARD_DESCRIPTION_LINES = 3
CARD_FIELD_CHARS = 300
CARD_STATUS_CHARS = 40
DETAILS_VALUE_CHARS = 1500
DETAILS_ENV_SHOWN = 40
# A deployment being stopped or deleted serves no requests: its address gets no Open button.
_NOT_SERVING = frozenset({DeploymentStatus.DISABLED, DeploymentStatus.DELETING})
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def render_deployment_card(
    deployment: Deployment,
    now: datetime,
    *,
    shared_by: str | None = None,
    in_channel: bool = False,
    watching: bool | None = None,
    regions: Mapping[int, str] = NO_REGION_NAMES,
    since: datetime | None = None,
    portal_url: str | None = None,
    operate: bool = False,
) -> Message:
    """The status card, to be read in two seconds: the status, then what needs attention, then the rest.

    ``shared_by`` is the Slack user who shared the card in the channel. A card that is neither shared nor
    otherwise ``in_channel`` (a refreshed alert) is ephemeral and offers the Share button. ``watching`` says
    whether the channel watches the deployment (None: unknown, no Watch button). ``regions`` names regions
    by id (a missing one shows its id); ``since`` is when the deployment took its status, when known;
    ``portal_url`` is the ``GCORE_PORTAL_URL`` template, for an Open in Gcore button; ``operate`` (someone
    may be an operator) adds Stop or Start, as the status allows.
    """
    in_channel = in_channel or shared_by is not None
    look = status_look(deployment)
    blocks: list[Block] = [
        header(f"{look.emoji} {plain(deployment.name)}"),
        section(_summary(deployment, since)),
        section(region_summary(deployment.containers, regions, deployment.state)),
        _address_block(deployment),
        fields_section(truncate(text, CARD_FIELD_CHARS) for text in _card_fields(deployment, regions)),
        _footer(deployment, now, shared_by),
        _card_actions(deployment, shared_by, in_channel, watching, portal_url, operate),
    ]
    return Message(text=_fallback_text(deployment), blocks=blocks)


def render_deployment_details(
    deployment: Deployment, regions: Mapping[int, str] = NO_REGION_NAMES
) -> dict[str, Any]:
    """A modal view with everything the card leaves out; secrets stay masked here too."""
    blocks: list[Block] = [header(f"{status_look(deployment).emoji} {plain(deployment.name)}")]
    if deployment.description:
        blocks.append(section("*Description*\n" + escape_mrkdwn(deployment.description)))
    blocks.append(
        fields_section(truncate(text, DETAILS_VALUE_CHARS) for text in _detail_fields(deployment, regions))
    )
    blocks.append(section(_environment_text(deployment)))
    blocks.append(divider())
    blocks.append(section("*Probes*"))
    blocks.extend(section(probe_details(label, config)) for label, config in probes(deployment))
    blocks.append(divider())
    closing = [context(f"Project {deployment.project_id} · secret values are never shown")]
    blocks.extend(
        container_sections(
            deployment.containers,
            regions,
            max_chars=10 * MAX_SECTION_TEXT,
            max_blocks=MAX_BLOCKS_PER_VIEW - len(blocks) - len(closing),
        )
    )
    blocks.extend(closing)
    return _details_modal(blocks)


def render_details_loading(ref: DeploymentRef) -> dict[str, Any]:
    """The modal shown at once while the details are fetched (a trigger_id expires in 3 seconds)."""
    return _details_modal([section(f"Loading {code(ref.name)} from project {ref.project_id}…")])


def render_details_error(user_message: str) -> dict[str, Any]:
    """The details modal saying what went wrong, for failures after it opened."""
    return _details_modal([section(f"⚠️ {user_message}")])


def _details_modal(blocks: list[Block]) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": plain_text("Deployment details", MAX_VIEW_TITLE),
        "close": plain_text("Close", MAX_VIEW_TITLE),
        "blocks": blocks,
    }


def _fallback_text(deployment: Deployment) -> str:
    look = status_look(deployment)
    return (
        f"{look.emoji} {escape_mrkdwn(deployment.name)} is {look.label.lower()}: "
        f"{deployment.ready_replicas}/{deployment.total_replicas} replicas ready "
        f"(project {deployment.project_id})"
    )


def _summary(deployment: Deployment, since: datetime | None) -> str:
    """The first line a person reads: the status in words and as Gcore names it, ready replicas, since
    when; then what the status means, and the description in short."""
    look = status_look(deployment)
    raw = escape_mrkdwn(truncate(deployment.status, CARD_STATUS_CHARS))
    first = f"*{look.label}* · {raw} · {deployment.ready_replicas}/{deployment.total_replicas} replicas ready"
    if since is not None:
        first += " · since " + slack_date(since)
    lines = [first, look.meaning]
    if deployment.description:
        description = truncate(deployment.description.strip(), CARD_DESCRIPTION_CHARS)
        shown = [line for line in description.splitlines() if line.strip()][:CARD_DESCRIPTION_LINES]
        lines.extend("> " + escape_mrkdwn(line) for line in shown)
    return "\n".join(lines)


def _address_block(deployment: Deployment) -> Block:
    if not deployment.address:
        return section("*Address:* _not assigned yet_")
    url = safe_url(deployment.address) if deployment.state not in _NOT_SERVING else None
    accessory = button("Open ↗", ActionId.OPEN_ADDRESS, url=url) if url else None
    return section("*Address:* " + code(truncate(deployment.address, CARD_FIELD_CHARS)), accessory)


def flavor_text(flavor_name: str | None) -> str:
    """The flavor in words with its name below, or the name alone when it follows no known pattern."""
    if not flavor_name:
        return "_unknown_"
    described = describe_flavor(flavor_name)
    return f"{described}\n{code(flavor_name)}" if described else code(flavor_name)


def _command_text(command: list[str] | str | None) -> str:
    if not command:
        return "_image default_"
    return code(shlex.join(command) if isinstance(command, list) else command)


def _created_text(deployment: Deployment) -> str:
    created = parse_timestamp(deployment.created_at)
    return slack_date(created) if created else "_unknown_"


def _logging_text(deployment: Deployment, regions: Mapping[int, str]) -> str:
    config = deployment.logging
    if config is None or not config.enabled:
        return "Off"
    parts = ["On"]
    if config.retention_policy and config.retention_policy.period:
        parts.append(f"kept {plural(config.retention_policy.period, 'day')}")
    if config.topic_name:
        parts.append("topic " + code(config.topic_name))
    if config.destination_region_id is not None:
        parts.append("to " + region_label(config.destination_region_id, regions, lower=True))
    return " · ".join(parts)


def _idle_text(timeout: int | None) -> str:
    if timeout is None:
        return "Off"
    if timeout == 0:
        return "Scales down to the minimum as soon as requests stop"
    return f"Scales down to the minimum after {seconds(timeout)} without requests"


def _auth_text(deployment: Deployment) -> str:
    if deployment.auth_enabled:
        return "🔒 On: requests need an API key"
    return "🔓 Off: anyone with the address can call it"


def _card_fields(deployment: Deployment, regions: Mapping[int, str]) -> list[str]:
    image = code(deployment.image) if deployment.image else "_unknown_"
    if deployment.listening_port is not None:
        image += f" · port {deployment.listening_port}"
    flavor = describe_flavor(deployment.flavor_name or "") or flavor_text(deployment.flavor_name)
    return [
        "*Flavor*\n" + flavor,
        "*Image*\n" + image,
        "*Command*\n" + _command_text(deployment.command),
        "*Auth*\n" + _auth_text(deployment),
        "*Idle scale-down*\n" + _idle_text(deployment.timeout),
        "*Logging*\n" + _logging_text(deployment, regions),
        "*Probes*\n" + "\n".join(merged_probe_summaries(deployment)),
    ]


def _detail_fields(deployment: Deployment, regions: Mapping[int, str]) -> list[str]:
    buffering = "—"
    if deployment.ingress_opts and deployment.ingress_opts.disable_response_buffering is not None:
        buffering = "Off" if deployment.ingress_opts.disable_response_buffering else "On"
    return [
        "*Status*\n" + status_label(deployment),
        "*Image*\n" + (code(deployment.image) if deployment.image else "_unknown_"),
        "*Registry credentials*\n"
        + (code(deployment.credentials_name) if deployment.credentials_name else "none"),
        "*Command*\n" + _command_text(deployment.command),
        "*Flavor*\n" + flavor_text(deployment.flavor_name),
        "*Response buffering*\n" + buffering,
        "*API keys*\n" + (plural(len(deployment.api_keys), "key") if deployment.api_keys else "none listed"),
        "*Logging*\n" + _logging_text(deployment, regions),
        "*Created*\n" + _created_text(deployment),
        "*Idle scale-down*\n" + _idle_text(deployment.timeout),
    ]


def _environment_text(deployment: Deployment) -> str:
    envs = deployment.envs or {}
    if not envs:
        return "*Environment variables*\nnone"
    names = sorted(envs)
    lines = [f"*Environment variables* ({len(names)}, values hidden)"]
    lines.extend(f"{code(name)} = {MASK}" for name in names[:DETAILS_ENV_SHOWN])
    if len(names) > DETAILS_ENV_SHOWN:
        lines.append(f"…and {len(names) - DETAILS_ENV_SHOWN} more")
    return "\n".join(lines)


def _footer(deployment: Deployment, now: datetime, shared_by: str | None) -> Block:
    parts = [f"Project {deployment.project_id}"]
    created = parse_timestamp(deployment.created_at)
    if created is not None:
        parts.append("created " + slack_date(created, "{date_short_pretty}"))
    parts.append("updated " + slack_date(now, "{date_short_pretty} at {time_secs}"))
    if shared_by and _SLACK_USER_ID.match(shared_by):
        parts.append(f"shared by <@{shared_by}>")
    return context(" · ".join(parts))


def _card_actions(
    deployment: Deployment,
    shared_by: str | None,
    in_channel: bool,
    watching: bool | None,
    portal_url: str | None,
    operate: bool,
) -> Block:
    ref = CardRef(
        project_id=deployment.project_id, name=deployment.name, shared_by=shared_by, in_channel=in_channel
    )
    value = ref.model_dump_json()
    elements = [button("Refresh", ActionId.REFRESH, value=value, style="primary")]
    if not in_channel:
        elements.append(button("Share in channel", ActionId.SHARE, value=value))
    elements.append(button("View details", ActionId.DETAILS, value=value))
    deployment_ref = DeploymentRef(project_id=deployment.project_id, name=deployment.name)
    plain_ref = deployment_ref.model_dump_json()
    elements.append(button("Logs", ActionId.SHOW_LOGS, value=plain_ref))
    elements.append(button("History", ActionId.SHOW_HISTORY, value=plain_ref))
    operation = operation_button(deployment_ref, deployment.state) if operate else None
    if operation is not None:
        elements.append(operation)
    if watching is True:
        elements.append(
            button(
                "Unwatch",
                ActionId.UNWATCH_DEPLOYMENT,
                value=plain_ref,
                confirm=unwatch_confirmation(deployment.name, deployment.project_id),
            )
        )
    elif watching is False:
        elements.append(button("Watch in this channel", ActionId.WATCH_DEPLOYMENT, value=plain_ref))
    portal = portal_button(portal_url, deployment.project_id, deployment.name)
    if portal is not None:
        elements.append(portal)
    return actions("deployment_actions", *elements)
