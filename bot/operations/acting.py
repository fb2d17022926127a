"""Stop and Start, between the click and the words: who may, what the confirmation shows, and doing it at
most once.

Every entry (the command, a card's or an alert's button, the Home tab) is authorized on the person before
anything is asked of Gcore (``authorize``). The confirmation carries an idempotency key made when it was
rendered (the response_url stays in the store under it); its submission is authorized again, then claims
the key by inserting the audit row, and only the claimant, when the guard lets it, calls Gcore
(``carry_out``). Each refusal is an audit row too.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from bot.access.policy import AccessDenied, AccessProblem
from bot.actions import CONFIRM_OPERATION, ActionId, DeploymentRef, OperationRef
from bot.audit import AuditEntry, AuditResult, Operation
from bot.commands import deployment_name_arg, parse_command, resolve_project
from bot.errors import DatabaseUnavailable, UserFacingError
from bot.gcore.errors import DeploymentNotFound, GcoreError, GcoreUnavailable, failure_reason
from bot.gcore.models import Deployment
from bot.operations.cards import with_region_names
from bot.services import Services
from bot.slack.errors import SlackCallFailed

log = logging.getLogger(__name__)

# A confirmed action is refused when the deployment's latest action within this window (done, under way, or
# with its answer lost) was the same one under another key: two people confirming the same Stop a minute
# apart meant it once. A Start in between lets a Stop through.
RECENTLY = timedelta(minutes=2)
ACTIONS_BY_BUTTON = {ActionId.STOP_DEPLOYMENT: Operation.STOP, ActionId.START_DEPLOYMENT: Operation.START}


@dataclass(frozen=True)
class Requester:
    """Who asks, from where: the Slack user, their team, the channel (None from the Home tab)."""

    user_id: str
    team_id: str | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How a submitted confirmation ended: ``done`` (and the ``response_url`` to say so through, if any);
    ``duplicate`` (the key was claimed before: nothing was done this time); ``recent`` (refused: that audit
    row did the same shortly before); or ``error`` (Gcore did not take it, or its answer was lost)."""

    done: bool = False
    duplicate: bool = False
    recent: AuditEntry | None = None
    error: GcoreError | None = None
    response_url: str | None = None


def new_key() -> str:
    """A fresh idempotency key for one confirmation."""
    return secrets.token_hex(16)


def _entry(
    services: Services,
    who: Requester,
    operation: Operation,
    project_id: int,
    name: str,
    result: AuditResult,
    *,
    detail: str | None = None,
    key: str | None = None,
) -> AuditEntry:
    return AuditEntry(
        at=services.clock(),
        user_id=who.user_id,
        action=operation,
        project_id=project_id,
        name=name,
        result=result,
        detail=detail,
        key=key,
        channel_id=who.channel_id,
        team_id=who.team_id,
    )


async def authorize(
    services: Services,
    who: Requester,
    operation: Operation,
    project_id: int,
    name: str,
    *,
    key: str | None = None,
    person: bool = True,
) -> None:
    """``AccessDenied`` unless the project, the channel and the person allow the action; a refusal is
    audited (once per ``key``) before it is raised. Nothing is asked of Gcore. ``person=False`` checks
    only what needs no Slack call: the project, the channel and whether anyone may act at all."""
    access = services.access
    try:
        access.check_project(project_id)
        access.check_channel(who.channel_id)
        if person:
            await access.check_operator(who.user_id)
        elif not access.operators.enabled:
            raise AccessDenied(AccessProblem.ACTIONS_OFF)
    except AccessDenied as denied:
        refused = _entry(
            services, who, operation, project_id, name, AuditResult.REFUSED, detail=denied.problem, key=key
        )
        await services.store.record_audit(refused)
        raise


@dataclass(frozen=True)
class Target:
    """The deployment a confirmation is about, as Gcore has it now, and its region names."""

    deployment: Deployment
    regions: Mapping[int, str]


async def target(services: Services, project_id: int, name: str) -> Target:
    """The deployment and region names the confirmation states the effect with."""
    deployment, names = await with_region_names(services, services.gcore.get_deployment(project_id, name))
    return Target(deployment, names)


class ConfirmationViews(Protocol):
    """The confirmation's views (``formatters.operations.Confirmations`` in the program)."""

    def loading(self, operation: Operation, name: str, project_id: int) -> dict[str, Any]: ...

    def confirmation(
        self, deployment: Deployment, ref: OperationRef, regions: Mapping[int, str]
    ) -> dict[str, Any]: ...

    def failure(self, operation: Operation, error: UserFacingError | SlackCallFailed) -> dict[str, Any]: ...

    def unexpected(self, operation: Operation, error_id: str) -> dict[str, Any]: ...


async def confirm(
    services: Services,
    who: Requester,
    operation: Operation,
    project_id: int,
    name: str,
    *,
    trigger_id: str,
    response_url: str | None,
    views: ConfirmationViews,
) -> None:
    """Open the confirmation at once (the trigger_id expires in 3 seconds), after only the checks that need
    no Slack call (``AccessDenied``, audited, opens nothing); then check the person (an operator group may
    be asked of Slack) and fill it in with the exact effect once Gcore has answered. Whatever goes wrong
    after it opened replaces it with one sentence: it never stays "Checking…"."""
    await authorize(services, who, operation, project_id, name, person=False)
    slack = services.slack
    opened = await slack.call(
        "views_open", trigger_id=trigger_id, view=views.loading(operation, name, project_id)
    )
    try:
        view = await _filled_in(services, who, operation, project_id, name, response_url, views)
    except (UserFacingError, SlackCallFailed) as error:
        view = views.failure(operation, error)
    except Exception as error:
        error_id = secrets.token_hex(4)
        log.error("unexpected error %s", error_id, exc_info=error)
        view = views.unexpected(operation, error_id)
    await slack.call("views_update", view_id=opened["view"]["id"], view=view)


async def _filled_in(
    services: Services,
    who: Requester,
    operation: Operation,
    project_id: int,
    name: str,
    response_url: str | None,
    views: ConfirmationViews,
) -> dict[str, Any]:
    """The confirmation for an operator, with a fresh key; the response_url is kept under it."""
    await authorize(services, who, operation, project_id, name)
    found = await target(services, project_id, name)
    ref = OperationRef(
        project_id=project_id, name=name, action=operation.value, key=new_key(), channel_id=who.channel_id
    )
    if response_url and not await services.store.keep_response_url(ref.key, response_url, services.clock()):
        log.warning("a response_url too long to be Slack's was not kept; the operator hears in a DM")
    return views.confirmation(found.deployment, ref, found.regions)


async def carry_out(services: Services, who: Requester, ref: OperationRef) -> Outcome:
    """Do the confirmed action at most once: authorize again (a submission is data, not a credential),
    claim the key, and let the claim decide whether the same action was done, is under way or may have been
    done in the last ``RECENTLY`` (refused); then ask Gcore, and record the end."""
    operation = Operation(ref.action)
    await authorize(services, who, operation, ref.project_id, ref.name, key=ref.key)
    store = services.store
    pending = _entry(services, who, operation, ref.project_id, ref.name, AuditResult.PENDING, key=ref.key)
    claim = await store.claim_action(pending, services.clock() - RECENTLY)
    if claim.taken:
        log.info(
            "confirmation %s… of %s %s arrived again; done at most once", ref.key[:8], operation, ref.name
        )
        return Outcome(duplicate=True)
    # Only this claimant could use it: no response_url outlives its confirmation's one submission.
    response_url = await store.take_response_url(ref.key, services.clock())
    if claim.earlier is not None:
        return Outcome(recent=claim.earlier)
    act = services.gcore.stop_deployment if operation is Operation.STOP else services.gcore.start_deployment
    try:
        await act(ref.project_id, ref.name)
    except GcoreUnavailable as lost:
        # A 5xx or no answer may follow the action: whether Gcore took it is not known.
        await store.finish_audit(ref.key, AuditResult.UNKNOWN, failure_reason(lost))
        return Outcome(error=lost)
    except GcoreError as error:
        reason = "not_found" if isinstance(error, DeploymentNotFound) else failure_reason(error)
        await store.finish_audit(ref.key, AuditResult.FAILED, reason)
        return Outcome(error=error)
    except BaseException:
        # Gcore may or may not have acted: the row says so rather than staying pending.
        await store.finish_audit(ref.key, AuditResult.UNKNOWN, "error")
        raise
    await store.finish_audit(ref.key, AuditResult.DONE)
    return Outcome(done=True, response_url=response_url)


def _operation_asked(body: Mapping[str, Any]) -> tuple[Operation, int | None, str] | None:
    """The start or stop a request asks for, as far as it can be read without trusting it: the
    operation, the project (None: the command's default) and the deployment."""
    if body.get("command"):
        parsed = parse_command(str(body.get("text") or ""))
        if parsed.verb in (Operation.STOP, Operation.START):
            return Operation(parsed.verb), parsed.project_id, deployment_name_arg(parsed)
        return None
    if body.get("type") == "block_actions":
        clicked = (body.get("actions") or [{}])[0]
        action_id = clicked.get("action_id") if isinstance(clicked, dict) else None
        operation = ACTIONS_BY_BUTTON.get(ActionId(action_id)) if action_id in ACTIONS_BY_BUTTON else None
        if operation is None:
            return None
        ref = DeploymentRef.model_validate_json(str(clicked.get("value") or ""))
        return operation, ref.project_id, ref.name
    view = body.get("view")
    if body.get("type") == "view_submission" and isinstance(view, dict):
        if view.get("callback_id") != CONFIRM_OPERATION:
            return None
        submitted = OperationRef.model_validate_json(str(view.get("private_metadata") or ""))
        return Operation(submitted.action), submitted.project_id, submitted.name
    return None


def requester(body: Mapping[str, Any]) -> Requester:
    """Who sent a command or an interaction, and from which channel (none for a submitted confirmation:
    its ``OperationRef`` says where it was opened)."""
    user = body.get("user")
    if isinstance(user, dict):
        channel = body.get("channel")
        channel_id = channel.get("id") if isinstance(channel, dict) else None
        return Requester(str(user.get("id") or "?"), user.get("team_id"), channel_id)
    return Requester(str(body.get("user_id") or "?"), body.get("team_id"), body.get("channel_id"))


async def record_refusal(services: Services, body: Mapping[str, Any], denied: AccessDenied) -> None:
    """Audit the refusal of a start or stop request that was refused before any listener ran (a person of
    another organization, a channel the bot does not serve): a ``/inference stop|start`` command, a Stop
    or Start button, or a submitted confirmation. Anything else, or a request that cannot be read, records
    nothing; this never raises."""
    try:
        asked = _operation_asked(body)
        if asked is None:
            return
        operation, project_id, name = asked
        project = resolve_project(project_id, services.settings.gcore_cloud_project_id)
        key = None
        if body.get("type") == "view_submission":
            key = OperationRef.model_validate_json(str(body["view"]["private_metadata"])).key
        entry = _entry(
            services,
            requester(body),
            operation,
            project,
            name,
            AuditResult.REFUSED,
            detail=denied.problem,
            key=key,
        )
        await services.store.record_audit(entry)
    except DatabaseUnavailable:
        log.warning("a refused start or stop was not audited: the database does not answer")
    except (ValidationError, ValueError, KeyError, UserFacingError):
        log.info("a refused request could not be read as a start or stop; not audited")
    except Exception:
        log.exception("auditing a refused start or stop failed")
