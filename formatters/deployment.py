"""The deployment card (``/inference status``) and its details modal: pure functions from a model to Block Kit."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bot.actions import ActionId, CardRef, DeploymentRef
from bot.gcore.models import Container, Deployment, ScaleTriggers
from formatters.alerts import unwatch_confirmation
from formatters.blocks import (
    Block,
    Message,
    actions,
    blocks_text_length,
    button,
    context,
    divider,
    fields_section,
    header,
    plain_text,
    section,
)
from formatters.flavor import describe_flavor
from formatters.limits import (
    MAX_BLOCKS_PER_MESSAGE,
    MAX_BLOCKS_PER_VIEW,
    MAX_BUTTON_URL,
    MAX_SECTION_TEXT,
    MAX_VIEW_TITLE,
    MESSAGE_BLOCKS_TEXT_BUDGET,
)
from formatters.probes import probe_details, probe_summary, probes
from formatters.status import status_label, status_look
from formatters.text import (
    MASK,
    code,
    escape_mrkdwn,
    parse_timestamp,
    plain,
    plural,
    progress_bar,
    seconds,
    slack_date,
    truncate,
)

# How much of each long value the card shows; the details modal shows more.
CARD_DESCRIPTION_CHARS = 500
CARD_FIELD_CHARS = 300
CARD_ERROR_CHARS = 300
CARD_ERRORS_SHOWN = 5
DETAILS_VALUE_CHARS = 1500
DETAILS_ENV_SHOWN = 40
# Room kept for the "and N more" line and the blocks after the containers.
_CONTAINER_RESERVE_CHARS = 400
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def render_deployment_card(
    deployment: Deployment,
    now: datetime,
    *,
    shared_by: str | None = None,
    in_channel: bool = False,
    watching: bool | None = None,
) -> Message:
    """The status card: what a person needs to know about a deployment at a glance.

    ``shared_by`` is the Slack user who shared the card in the channel. A card that is neither shared nor
    otherwise ``in_channel`` (a refreshed alert) is ephemeral and offers the Share button. ``watching`` says
    whether the channel watches the deployment (None: unknown, no Watch button).
    """
    in_channel = in_channel or shared_by is not None
    look = status_look(deployment)
    blocks: list[Block] = [
        header(f"{look.emoji} {plain(deployment.name)}"),
        section(_summary(deployment)),
    ]
    address = _address_block(deployment)
    if address is not None:
        blocks.append(address)
    errors = _errors_section(deployment)
    if errors is not None:
        blocks.append(errors)
    blocks.append(fields_section(truncate(text, CARD_FIELD_CHARS) for text in _card_fields(deployment)))

    closing = [
        _footer(deployment, now, shared_by),
        _card_actions(deployment, shared_by, in_channel, watching),
    ]
    room = MESSAGE_BLOCKS_TEXT_BUDGET - blocks_text_length(blocks + closing) - _CONTAINER_RESERVE_CHARS
    blocks.extend(
        _container_sections(
            deployment.containers,
            max_chars=room,
            max_blocks=MAX_BLOCKS_PER_MESSAGE - len(blocks) - len(closing),
        )
    )
    blocks.extend(closing)
    return Message(text=_fallback_text(deployment), blocks=blocks)


def render_deployment_details(deployment: Deployment) -> dict[str, Any]:
    """A modal view with everything the card leaves out; secrets stay masked here too."""
    blocks: list[Block] = [header(f"{status_look(deployment).emoji} {plain(deployment.name)}")]
    if deployment.description:
        blocks.append(section("*Description*\n" + escape_mrkdwn(deployment.description)))
    blocks.append(fields_section(truncate(text, DETAILS_VALUE_CHARS) for text in _detail_fields(deployment)))
    blocks.append(section(_environment_text(deployment)))
    blocks.append(divider())
    blocks.append(section("*Probes*"))
    blocks.extend(section(probe_details(label, config)) for label, config in probes(deployment))
    blocks.append(divider())
    closing = [context(f"Project {deployment.project_id} · secret values are never shown")]
    blocks.extend(
        _container_sections(
            deployment.containers,
            max_chars=10 * MAX_SECTION_TEXT,
            max_blocks=MAX_BLOCKS_PER_VIEW - len(blocks) - len(closing),
            with_errors=True,
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


def _summary(deployment: Deployment) -> str:
    look = status_look(deployment)
    lines = [
        f"*{status_label(deployment)}* · {deployment.ready_replicas}/{deployment.total_replicas} replicas ready",
        look.meaning,
    ]
    if deployment.description:
        description = truncate(deployment.description.strip(), CARD_DESCRIPTION_CHARS)
        lines.extend("> " + escape_mrkdwn(line) for line in description.splitlines()[:6])
    return "\n".join(lines)


def safe_url(address: str | None) -> str | None:
    """The address when Slack will accept it as a button URL (an invalid one fails the whole message)."""
    if not address or len(address) > MAX_BUTTON_URL or any(ch.isspace() for ch in address):
        return None
    parts = urlsplit(address)
    return address if parts.scheme in ("http", "https") and parts.netloc else None


def _address_block(deployment: Deployment) -> Block | None:
    if not deployment.address:
        return section("*Address*\n_not assigned yet_")
    url = safe_url(deployment.address)
    accessory = button("Open ↗", ActionId.OPEN_ADDRESS, url=url) if url else None
    return section("*Address*\n" + code(truncate(deployment.address, CARD_FIELD_CHARS)), accessory)


def _errors_section(deployment: Deployment) -> Block | None:
    failing = [c for c in deployment.containers if c.error_message]
    if not failing:
        return None
    lines = [f"⚠️ *{plural(len(failing), 'container')} reporting an error*"]
    lines.extend(
        f"• *Region {c.region_id}:* {escape_mrkdwn(truncate(c.error_message or '', CARD_ERROR_CHARS))}"
        for c in failing[:CARD_ERRORS_SHOWN]
    )
    if len(failing) > CARD_ERRORS_SHOWN:
        lines.append(f"…and {len(failing) - CARD_ERRORS_SHOWN} more in *View details*")
    return section("\n".join(lines))


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


def _logging_text(deployment: Deployment) -> str:
    config = deployment.logging
    if config is None or not config.enabled:
        return "Off"
    parts = ["On"]
    if config.retention_policy and config.retention_policy.period:
        parts.append(f"kept {plural(config.retention_policy.period, 'day')}")
    if config.topic_name:
        parts.append("topic " + code(config.topic_name))
    if config.destination_region_id is not None:
        parts.append(f"region {config.destination_region_id}")
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


def _card_fields(deployment: Deployment) -> list[str]:
    port = str(deployment.listening_port) if deployment.listening_port is not None else "_unknown_"
    return [
        "*Flavor*\n" + flavor_text(deployment.flavor_name),
        "*Image*\n" + (code(deployment.image) if deployment.image else "_unknown_"),
        "*Command*\n" + _command_text(deployment.command),
        "*Port*\n" + port,
        "*Auth*\n" + _auth_text(deployment),
        "*Idle scale-down*\n" + _idle_text(deployment.timeout),
        "*Created*\n" + _created_text(deployment),
        "*Logging*\n" + _logging_text(deployment),
        "*Probes*\n" + "\n".join(f"{label}: {probe_summary(config)}" for label, config in probes(deployment)),
        f"*Project*\n{deployment.project_id}",
    ]


def _detail_fields(deployment: Deployment) -> list[str]:
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
        "*Logging*\n" + _logging_text(deployment),
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


def _triggers_text(triggers: ScaleTriggers) -> str:
    parts = []
    if triggers.cpu:
        parts.append(f"CPU ≥ {triggers.cpu.threshold}%")
    if triggers.memory:
        parts.append(f"memory ≥ {triggers.memory.threshold}%")
    if triggers.gpu_utilization:
        parts.append(f"GPU util ≥ {triggers.gpu_utilization.threshold}%")
    if triggers.gpu_memory:
        parts.append(f"GPU memory ≥ {triggers.gpu_memory.threshold}%")
    if triggers.http:
        parts.append(f"HTTP ≥ {triggers.http.rate} req per {seconds(triggers.http.window)}")
    if triggers.sqs:
        length = triggers.sqs.queue_length
        parts.append(f"SQS queue ≥ {length}" if length is not None else "SQS queue")
    return ", ".join(parts)


def container_line(container: Container, *, with_error: bool = False) -> str:
    """One container (one region) on one line: readiness bar, scale bounds, triggers."""
    ready, total = container.deploy_status.ready, container.deploy_status.total
    scale = container.scale
    parts = [
        f"*Region {container.region_id}*  `{progress_bar(ready, total)}` {ready}/{total} ready",
        f"scale {scale.min}–{scale.max}",
    ]
    if scale.cooldown_period is not None:
        parts.append(f"cooldown {seconds(scale.cooldown_period)}")
    triggers = _triggers_text(scale.triggers)
    if triggers:
        parts.append("on " + triggers)
    line = " · ".join(parts)
    if with_error and container.error_message:
        line += "\n   ⚠️ " + escape_mrkdwn(truncate(container.error_message, CARD_ERROR_CHARS))
    return line


def _container_sections(
    containers: Iterable[Container], *, max_chars: int, max_blocks: int, with_errors: bool = False
) -> list[Block]:
    """Containers packed into as few sections as fit, cut with a visible "and N more" when over budget."""
    containers = list(containers)
    title = f"*Containers* · {plural(len(containers), 'region')}"
    if not containers:
        return [section(title + "\n_none yet_")]
    chunks: list[str] = [title]
    used = len(title)
    shown = 0
    for container in containers:
        line = container_line(container, with_error=with_errors)
        over_budget = used + len(line) + 1 > max_chars
        new_block = len(chunks[-1]) + len(line) + 1 > MAX_SECTION_TEXT
        if over_budget or (new_block and len(chunks) + 1 > max_blocks - 1):
            break
        if new_block:
            chunks.append(line)
        else:
            chunks[-1] += "\n" + line
        used += len(line) + 1
        shown += 1
    blocks = [section(chunk) for chunk in chunks]
    if shown < len(containers):
        blocks.append(context(f"…and {len(containers) - shown} more regions, listed in *View details*"))
    return blocks


def _footer(deployment: Deployment, now: datetime, shared_by: str | None) -> Block:
    parts = [
        f"Project {deployment.project_id}",
        "Updated " + slack_date(now, "{date_short_pretty} at {time_secs}"),
    ]
    if shared_by and _SLACK_USER_ID.match(shared_by):
        parts.append(f"shared by <@{shared_by}>")
    return context(" · ".join(parts))


def _card_actions(
    deployment: Deployment, shared_by: str | None, in_channel: bool, watching: bool | None
) -> Block:
    ref = CardRef(
        project_id=deployment.project_id, name=deployment.name, shared_by=shared_by, in_channel=in_channel
    )
    value = ref.model_dump_json()
    elements = [button("Refresh", ActionId.REFRESH, value=value, style="primary")]
    if not in_channel:
        elements.append(button("Share in channel", ActionId.SHARE, value=value))
    elements.append(button("View details", ActionId.DETAILS, value=value))
    plain_ref = DeploymentRef(project_id=deployment.project_id, name=deployment.name).model_dump_json()
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
    return actions("deployment_actions", *elements)
