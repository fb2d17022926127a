"""Alerts the watcher posts: one message per transition, calm for routine changes, loud for problems."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bot.actions import ActionId, DeploymentRef
from bot.gcore.models import DeploymentStatus, LogEntry
from bot.watch.subscriptions import Subscription
from bot.watch.transitions import AlertKind, Snapshot, Transition
from formatters.blocks import Block, Message, actions, button, confirmation, context, section
from formatters.changes import changes_line
from formatters.links import portal_button
from formatters.logs import log_section
from formatters.operations import operation_button
from formatters.outages import outage_details, outage_headline
from formatters.pauses import pause_advice, pause_why
from formatters.regions import NO_REGION_NAMES, region_label
from formatters.status import STATUS_LOOKS
from formatters.text import escape_mrkdwn, plural, seconds, slack_date, truncate

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
ALERT_ERRORS_SHOWN = 5
ALERT_ERROR_CHARS = 400


def _state(status: str | None) -> DeploymentStatus:
    try:
        return DeploymentStatus((status or "").upper())
    except ValueError:
        return DeploymentStatus.UNKNOWN


def status_words(status: str | None) -> str:
    """``🟢 Active``; an unknown status shows its raw value, escaped."""
    state = _state(status)
    look = STATUS_LOOKS[state]
    if state is DeploymentStatus.UNKNOWN:
        return f"{look.emoji} {escape_mrkdwn(status or 'unknown')}"
    return f"{look.emoji} {look.label}"


def _headline(t: Transition, stuck_after_seconds: int) -> str:
    name = f"*{escape_mrkdwn(t.name)}*"
    old, new = _state(t.old_status), _state(t.new_status)
    snapshot = t.snapshot
    if t.kind is AlertKind.CHANGED:
        if old is DeploymentStatus.ACTIVE and new is DeploymentStatus.PENDING:
            return f"💤 {name} is sleeping: scaled to zero until the next request"
        if old is DeploymentStatus.PENDING and new is DeploymentStatus.ACTIVE:
            return f"☀️ {name} woke up: {status_words(t.new_status)}"
        prefix = "✅ " if t.recovery else ("🚨 " if snapshot and snapshot.errored else "")
        verb = "recovered" if t.recovery else "changed"
        return f"{prefix}{name} {verb}: {status_words(t.old_status)} → {status_words(t.new_status)}"
    if t.kind is AlertKind.CREATED:
        return f"🆕 {name} appeared: {status_words(t.new_status)}"
    if t.kind is AlertKind.STUCK:
        return f"⏳ {name} is stuck in {status_words(t.new_status)} for over {seconds(stuck_after_seconds)}"
    if t.kind is AlertKind.DEGRADED and snapshot:
        return (
            f"🟠 {name} is degraded: {snapshot.ready}/{snapshot.total} replicas ready, "
            f"below its minimum of {snapshot.min_ready}"
        )
    if t.kind is AlertKind.RECOVERED:
        return (
            f"✅ {name} recovered: back to {snapshot.ready}/{snapshot.total} replicas ready"
            if snapshot
            else ""
        )
    if t.kind is AlertKind.DELETED:
        return f"🗑️ {name} is gone (it was {status_words(t.old_status)})"
    if t.kind is AlertKind.FLAPPING:
        return (
            f"🔁 {name} is flapping: {plural(t.flap_count, 'status change')} in 10 min, "
            f"now {status_words(t.new_status)}"
        )
    if t.kind is AlertKind.STABLE:
        return f"✅ {name} is stable again: {status_words(t.new_status)} for 10 min"
    if t.kind is AlertKind.SPEC_CHANGED:
        return f"⚙️ {name} changed, still {status_words(t.new_status)}"
    return outage_headline(t)  # GCORE_UNREACHABLE, GCORE_REACHABLE


def alert_details(t: Transition) -> list[str]:
    """What an alert says below its headline: what happens next, for the kinds that need it."""
    lines: list[str] = []
    if t.kind is AlertKind.FLAPPING:
        lines.append("This message is updated in place until it has been stable for 10 minutes.")
    if t.kind is AlertKind.DELETED:
        lines.append("This channel's subscription to it has ended; `watch --all` subscriptions stay.")
    if t.kind in (AlertKind.GCORE_UNREACHABLE, AlertKind.GCORE_REACHABLE):
        lines.extend(outage_details(t))
    return lines


def _errors(snapshot: Snapshot | None, regions: Mapping[int, str]) -> str | None:
    if snapshot is None or not snapshot.errors:
        return None
    lines = [
        f"⚠️ *{region_label(region, regions)}:* {escape_mrkdwn(truncate(message, ALERT_ERROR_CHARS))}"
        for region, message in snapshot.errors[:ALERT_ERRORS_SHOWN]
    ]
    if len(snapshot.errors) > ALERT_ERRORS_SHOWN:
        lines.append(f"…and {len(snapshot.errors) - ALERT_ERRORS_SHOWN} more regions with errors")
    return "\n".join(lines)


def render_alert(
    t: Transition,
    *,
    stuck_after_seconds: int,
    as_parent: bool = False,
    with_buttons: bool = True,
    mentions: Sequence[str] = (),
    logs: Sequence[LogEntry] = (),
    regions: Mapping[int, str] = NO_REGION_NAMES,
    portal_url: str | None = None,
    operate: bool = False,
) -> Message:
    """The alert for one transition.

    ``as_parent`` renders the episode's first message as updated in place: the latest transition, with a
    pointer to the thread below. ``logs``, newest first as Gcore answers them, are shown below the errors.
    ``regions`` names regions by id (a missing one shows its id); ``portal_url``, the ``GCORE_PORTAL_URL``
    template, adds an Open in Gcore link to the buttons; ``operate`` (someone may be an operator) adds Stop
    or Start to a problem's buttons, as its status allows.
    """
    headline = _headline(t, stuck_after_seconds)
    changed = changes_line(t.changes, regions)
    body = [headline, *([f"*What changed:* {changed}"] if changed else []), *alert_details(t)]
    blocks: list[Block] = [section("\n".join(body))]
    errors = _errors(t.snapshot, regions)
    if errors and t.kind is not AlertKind.DELETED:
        blocks.append(section(errors))
    shown_logs = log_section(logs, regions)
    if shown_logs is not None:
        blocks.append(shown_logs)
    facts = []
    if t.name:
        facts.append(f"Project {t.project_id}")
    if t.snapshot and t.kind not in (
        AlertKind.DELETED,
        AlertKind.GCORE_UNREACHABLE,
        AlertKind.GCORE_REACHABLE,
    ):
        facts.append(f"{t.snapshot.ready}/{t.snapshot.total} replicas ready")
    facts.append(slack_date(t.at))
    if t.offline:
        facts.append("happened while the bot was offline")
    if as_parent:
        facts.append("latest state; every step is in the thread")
    blocks.append(context(" · ".join(facts)))
    if mentions:
        blocks.append(context(cc(mentions)))
    if with_buttons and t.name and t.kind is not AlertKind.DELETED:
        state = _state(t.new_status) if operate and t.problem and not t.recovery else None
        blocks.append(alert_buttons(DeploymentRef(project_id=t.project_id, name=t.name), portal_url, state))
    text = _fallback(t, headline)
    return Message(text=f"{text} {cc(mentions)}" if mentions else text, blocks=blocks)


def cc(mentions: Sequence[str]) -> str:
    """The owners a problem alert wakes: mentions exactly as Slack wrote them, nothing user-typed."""
    return "cc " + " ".join(mentions)


def alert_buttons(
    ref: DeploymentRef, portal_url: str | None = None, state: DeploymentStatus | None = None
) -> Block:
    """An alert's buttons: the clicker's own fresh card and last log lines, Stop or Start when ``state``
    (the deployment's status) is given and allows one, and Unwatch behind a confirmation; with the
    ``GCORE_PORTAL_URL`` template, a link to the deployment in Gcore."""
    value = ref.model_dump_json()
    operation = operation_button(ref, state) if state is not None else None
    elements = [
        button("Card", ActionId.ALERT_REFRESH, value=value),
        button("Logs", ActionId.SHOW_LOGS, value=value),
        *([operation] if operation is not None else []),
        button(
            "Unwatch",
            ActionId.UNWATCH_DEPLOYMENT,
            value=value,
            confirm=unwatch_confirmation(ref.name, ref.project_id),
        ),
    ]
    portal = portal_button(portal_url, ref.project_id, ref.name)
    if portal is not None:
        elements.append(portal)
    return actions("alert_actions", *elements)


def unwatch_confirmation(name: str | None, project_id: int) -> dict[str, object]:
    """The confirmation Slack shows before an Unwatch button acts (a danger-styled dialog); ``name`` None
    is ``watch --all``."""
    what = f"`{escape_mrkdwn(name)}`" if name is not None else f"the deployments of project {project_id}"
    return confirmation(
        "Stop these alerts?",
        f"This channel will no longer hear about {what}. Anyone here can watch again.",
        "Unwatch",
    )


def channel_link(channel_id: str) -> str:
    """A channel as Slack links it (``<#C…>``), or its id escaped when it is not a channel id."""
    return f"<#{channel_id}>" if _CHANNEL_ID.match(channel_id) else escape_mrkdwn(channel_id)


def _targets(subscriptions: list[Subscription]) -> str:
    return ", ".join(
        "all deployments" if s.watches_all else f"`{escape_mrkdwn(s.target)}`" for s in subscriptions
    )


def render_compact_alert(
    t: Transition, *, stuck_after_seconds: int, regions: Mapping[int, str] = NO_REGION_NAMES
) -> Message:
    """The alert cut to what must not be lost, for when Slack refuses the full one (``msg_too_long``):
    the deployment, the transition and when; no details, errors or buttons. ``regions`` is taken as every
    rendering takes it; what the compact alert keeps names no region today."""
    headline = _headline(t, stuck_after_seconds)
    facts = [f"Project {t.project_id}"] if t.name else []
    facts.append(slack_date(t.at))
    return Message(text=_fallback(t, headline), blocks=[section(headline), context(" · ".join(facts))])


def _fallback(t: Transition, headline: str) -> str:
    """The notification text: the headline without mrkdwn stars, and the project."""
    return headline.replace("*", "") + (f" (project {t.project_id})" if t.name else "")


def render_paused_notice(
    channel_id: str, subscriptions: list[Subscription], reason: str, recheck_seconds: int
) -> Message:
    """The direct message to whoever made a subscription that had to be paused: why, and what to do."""
    text = (
        f"I paused alerts for {_targets(subscriptions)} in {channel_link(channel_id)}: {pause_why(reason)}. "
        f"{pause_advice(reason, recheck_seconds)}"
    )
    return Message(text=text, blocks=[section(text)])


def render_resumed_notice(channel_id: str, subscriptions: list[Subscription]) -> Message:
    """The direct message that a paused channel takes alerts again."""
    text = f"I can post in {channel_link(channel_id)} again, so alerts for {_targets(subscriptions)} are back on there."
    return Message(text=text, blocks=[section(text)])
