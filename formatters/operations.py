"""Stop and Start in words: the buttons, the confirmation that states the exact effect, and what is said
once it is done, refused or failed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.actions import CONFIRM_OPERATION, ActionId, DeploymentRef, OperationRef
from bot.audit import AuditEntry, AuditResult, Operation, operation_for
from bot.errors import UserFacingError
from bot.gcore.errors import GcoreUnavailable
from bot.gcore.models import Container, Deployment, DeploymentStatus
from bot.slack.errors import SlackCallFailed
from formatters.blocks import Block, Message, button, context, plain_text, section
from formatters.errors import error_sentence
from formatters.feedback import render_unexpected_error
from formatters.limits import MAX_VIEW_TITLE
from formatters.regions import NO_REGION_NAMES, region_label
from formatters.status import status_look
from formatters.text import code, escape_mrkdwn, plural, slack_date, user_mention

TITLES = {Operation.STOP: "Stop deployment", Operation.START: "Start deployment"}
# The title when the action cannot be read (a stale or forged confirmation).
NEUTRAL_TITLE = "Stop or start"
VERBS = {Operation.STOP: "Stop", Operation.START: "Start"}
DONE_WORDS: dict[str, str] = {Operation.STOP: "stopped", Operation.START: "started"}
BUTTON_IDS = {Operation.STOP: ActionId.STOP_DEPLOYMENT, Operation.START: ActionId.START_DEPLOYMENT}
# Regions a confirmation names one by one; past this, a count.
REGIONS_NAMED = 5


def operation_button(ref: DeploymentRef, state: DeploymentStatus) -> dict[str, Any] | None:
    """The Stop or Start button a deployment in ``state`` offers (none while it is deleted or unknown).
    It only opens the confirmation: nothing is done until that is submitted."""
    operation = operation_for(state)
    if operation is None:
        return None
    style = "danger" if operation is Operation.STOP else None
    return button(VERBS[operation], BUTTON_IDS[operation], value=ref.model_dump_json(), style=style)


def _modal(operation: Operation | None, blocks: list[Block], **extra: Any) -> dict[str, Any]:
    title = TITLES[operation] if operation is not None else NEUTRAL_TITLE
    return {
        "type": "modal",
        "title": plain_text(title, MAX_VIEW_TITLE),
        "close": plain_text("Cancel" if "submit" in extra else "Close", MAX_VIEW_TITLE),
        "blocks": blocks,
        **extra,
    }


def render_operation_loading(operation: Operation, name: str, project_id: int) -> dict[str, Any]:
    """The confirmation shown at once (a trigger_id expires in 3 seconds) while Gcore is asked."""
    return _modal(operation, [section(f"Checking {code(name)} in project {project_id}…")])


def render_operation_notice(operation: Operation | None, sentence: str) -> dict[str, Any]:
    """The confirmation replaced by one sentence: a refusal, a failure, or why there is nothing to do
    (``operation`` None: a confirmation that cannot be read, under a neutral title)."""
    return _modal(operation, [section(sentence)])


def _regions(containers: list[Container], regions: Mapping[int, str]) -> str:
    labels = sorted((region_label(c.region_id, regions) for c in containers), key=str.casefold)
    if len(labels) > REGIONS_NAMED:
        return plural(len(labels), "region")
    return ", ".join(labels) if labels else "no region"


def _scale_min(containers: list[Container], regions: Mapping[int, str]) -> str:
    """``scale.min = 1 per region``, or each region's own minimum when they differ."""
    minimums = {c.scale.min for c in containers}
    if len(minimums) <= 1:
        return f"scale.min = {next(iter(minimums), 0)} per region"
    each = ", ".join(
        f"{c.scale.min} in {region_label(c.region_id, regions)}" for c in containers[:REGIONS_NAMED]
    )
    more = f" and {len(containers) - REGIONS_NAMED} more regions" if len(containers) > REGIONS_NAMED else ""
    return f"scale.min = {each}{more}"


def effect(deployment: Deployment, operation: Operation, regions: Mapping[int, str]) -> str:
    """What the action will do, exactly, to the deployment as Gcore has it now."""
    name = f"*{escape_mrkdwn(deployment.name)}*"
    where = _regions(deployment.containers, regions)
    if operation is Operation.STOP:
        back = f"Start brings it back at {_scale_min(deployment.containers, regions)}."
        if deployment.state is DeploymentStatus.PENDING:
            now = f"It is scaled to zero in {where} now and wakes on the next request; stopped, it no longer wakes"
        else:
            ready = plural(deployment.ready_replicas, "ready replica")
            ends = "it stops" if deployment.ready_replicas == 1 else "they stop"
            now = f"It serves {ready} in {where} now; {ends}"
        return (
            f"Stop {name} in project {deployment.project_id}? {now}, and requests fail until it is started "
            f"again. {back}"
        )
    return (
        f"Start {name} in project {deployment.project_id}? It is stopped now and serves no requests; it "
        f"comes back in {where} at {_scale_min(deployment.containers, regions)}, and serves again once "
        "those replicas are ready."
    )


def render_operation_confirmation(
    deployment: Deployment, ref: OperationRef, regions: Mapping[int, str] = NO_REGION_NAMES
) -> dict[str, Any]:
    """The confirmation: the exact effect, and a submit button that does it. When the deployment's status
    does not allow the action (already stopped, being deleted), it says so and offers nothing to submit."""
    operation = Operation(ref.action)
    if operation_for(deployment.state) is not operation:
        return render_operation_notice(operation, nothing_to_do(deployment, operation))
    blocks = [
        section(effect(deployment, operation, regions)),
        context(
            f"Nothing happens until you press {VERBS[operation]}; `/inference audit` keeps who did it and when."
        ),
    ]
    return _modal(
        operation,
        blocks,
        callback_id=CONFIRM_OPERATION,
        private_metadata=ref.model_dump_json(),
        submit=plain_text(VERBS[operation], MAX_VIEW_TITLE),
    )


def nothing_to_do(deployment: Deployment, operation: Operation) -> str:
    """Why the action does not apply to the deployment as it is now."""
    name = f"*{escape_mrkdwn(deployment.name)}*"
    look = status_look(deployment)
    status = f"{look.emoji} {look.label}"
    if operation is Operation.STOP and deployment.state is DeploymentStatus.DISABLED:
        return f"{name} is already stopped ({status}): there is nothing to stop."
    if operation is Operation.START and operation_for(deployment.state) is Operation.STOP:
        return f"{name} is not stopped ({status}): there is nothing to start."
    return f"{name} is {status} now; it can be neither stopped nor started until that ends."


def render_operation_done(user_id: str, operation: Operation, name: str, project_id: int) -> Message:
    """What the channel sees once Gcore took the action: ``@alice stopped my-instance``."""
    text = f"{user_mention(user_id)} {DONE_WORDS[operation]} *{escape_mrkdwn(name)}*"
    return Message(text=text, blocks=[section(text), context(f"Project {project_id} · confirmed in Slack")])


def recently_done(recent: AuditEntry, now: datetime) -> str:
    """The refusal of a second identical action soon after one that was done, is under way, or whose
    answer was lost."""
    minutes = max(1, round((now - recent.at).total_seconds() / 60))
    who, name = user_mention(recent.user_id), f"*{escape_mrkdwn(recent.name)}*"
    when = f"at {slack_date(recent.at, '{time}')}, under {plural(minutes, 'minute')} ago"
    if recent.result is AuditResult.PENDING:
        did = f"{who} asked Gcore to {recent.action.value} {name} {when}, and it has not answered yet"
    elif recent.result is AuditResult.UNKNOWN:
        did = (
            f"{who} asked Gcore to {recent.action.value} {name} {when}, and its answer was lost: "
            f"`/inference status {escape_mrkdwn(recent.name)}` shows whether it did"
        )
    else:
        did = f"{who} already {DONE_WORDS[recent.action]} {name} {when}"
    return f"{did}, so I did not ask Gcore again; if it is still needed, confirm it again in a few minutes."


def failed(operation: Operation, name: str, error: UserFacingError) -> str:
    """The action failed. When Gcore's answer was lost (no answer, a gateway error), it may have acted all
    the same: the sentence says to look before trying again, since the bot does not send it twice."""
    shown = escape_mrkdwn(name)
    if isinstance(error, GcoreUnavailable):
        return (
            f"Gcore did not say whether it will {operation.value} *{shown}*: its answer was lost on the way. "
            f"`/inference status {shown}` shows whether it did; look there before trying again."
        )
    return f"Gcore did not {operation.value} *{shown}*: {error_sentence(error)}"


def still_waiting(operation: Operation, name: str) -> str:
    """The confirmation while Gcore takes longer than Slack waits for an answer."""
    return (
        f"Asked Gcore to {operation.value} *{escape_mrkdwn(name)}*; it has not answered yet. "
        "This closes by itself when it does, and the channel hears of it."
    )


class Confirmations:
    """The confirmation's views, as ``bot.operations.acting.confirm`` asks for them."""

    def loading(self, operation: Operation, name: str, project_id: int) -> dict[str, Any]:
        """Shown at once while Gcore is asked."""
        return render_operation_loading(operation, name, project_id)

    def confirmation(
        self, deployment: Deployment, ref: OperationRef, regions: Mapping[int, str]
    ) -> dict[str, Any]:
        """The exact effect, and the submit button."""
        return render_operation_confirmation(deployment, ref, regions)

    def failure(self, operation: Operation, error: UserFacingError | SlackCallFailed) -> dict[str, Any]:
        """A refusal, or Gcore or Slack could not say what is needed (not found, unavailable…)."""
        return render_operation_notice(operation, f"⚠️ {error_sentence(error)}")

    def unexpected(self, operation: Operation, error_id: str) -> dict[str, Any]:
        """A bug: the id to quote, which the log has too."""
        return render_operation_notice(operation, render_unexpected_error(error_id).text)


def done_notice(operation: Operation, name: str) -> str:
    """The confirmation once Gcore took the action after Slack stopped waiting."""
    return f"Done: Gcore took the {operation.value} of *{escape_mrkdwn(name)}*; the channel was told."
