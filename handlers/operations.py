"""Stop and Start: the buttons on cards, problem alerts and the Home tab open the confirmation; its
submission does the action at most once and tells the channel."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.actions import CONFIRM_OPERATION, ActionId, DeploymentRef, OperationRef, read_value
from bot.audit import Operation
from bot.errors import ArgumentProblem, BadArgument, UserFacingError
from bot.operations.acting import ACTIONS_BY_BUTTON, Requester, carry_out, confirm, requester
from bot.services import Services
from bot.slack.errors import SlackCallFailed
from formatters.errors import error_sentence
from formatters.operations import (
    Confirmations,
    done_notice,
    failed,
    recently_done,
    render_operation_done,
    render_operation_notice,
    still_waiting,
)
from handlers.errors import describe_error, replies_on_error, tell_in_modal

log = logging.getLogger(__name__)

# Slack waits 3 seconds for the answer to a submission; Gcore's answer is awaited this long within them.
ANSWER_WITHIN_SECONDS = 2.0


def register(app: AsyncApp, services: Services) -> None:
    """Register the Stop and Start buttons and their confirmation."""

    @app.action(ActionId.STOP_DEPLOYMENT)
    @app.action(ActionId.START_DEPLOYMENT)
    @replies_on_error
    async def on_operation_button(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        operation = ACTIONS_BY_BUTTON[body["actions"][0]["action_id"]]
        response_url = body.get("response_url")
        try:
            ref = read_value(DeploymentRef, body, services.access)
            await confirm(
                services,
                requester(body),
                operation,
                ref.project_id,
                ref.name,
                trigger_id=body["trigger_id"],
                response_url=response_url,
                views=Confirmations(),
            )
        except (UserFacingError, SlackCallFailed) as error:
            if response_url:
                raise
            # From the Home tab there is no response_url: the sentence opens a modal of its own.
            log.info("a %s from the Home tab went no further: %s", operation, error)
            await tell_in_modal(services, body["trigger_id"], Confirmations().failure(operation, error))

    @app.view(CONFIRM_OPERATION)
    async def on_confirmed(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        try:
            ref = OperationRef.model_validate_json(view.get("private_metadata") or "")
        except ValidationError:
            stale = error_sentence(BadArgument(ArgumentProblem.STALE_BUTTON))
            await ack(response_action="update", view=render_operation_notice(None, stale))
            return
        operation = Operation(ref.action)
        who = replace(requester(body), channel_id=ref.channel_id)
        work = asyncio.ensure_future(_settle(services, who, ref))
        await asyncio.wait({work}, timeout=ANSWER_WITHIN_SECONDS)
        if work.done():
            answer = work.result()
            if answer is None:
                await ack(response_action="clear")
            else:
                await ack(response_action="update", view=answer)
            return
        await ack(
            response_action="update",
            view=render_operation_notice(operation, still_waiting(operation, ref.name)),
        )
        answer = await work
        late = answer or render_operation_notice(operation, done_notice(operation, ref.name))
        try:
            await services.slack.call("views_update", view_id=view.get("id"), view=late)
        except SlackCallFailed as failure:
            log.info("the confirmation was closed before Gcore answered (%s)", failure.failure.code)


async def _settle(services: Services, who: Requester, ref: OperationRef) -> dict[str, Any] | None:
    """Carry out the confirmed action and tell the channel when it was done; the view the confirmation
    then shows (None: close it). Never raises: whatever went wrong is the view's one sentence."""
    operation = Operation(ref.action)
    try:
        outcome = await carry_out(services, who, ref)
    except Exception as error:
        return render_operation_notice(operation, describe_error(error).text)
    if outcome.recent is not None:
        return render_operation_notice(operation, recently_done(outcome.recent, services.clock()))
    if outcome.error is not None:
        return render_operation_notice(operation, failed(operation, ref.name, outcome.error))
    if outcome.done:
        await _announce(services, who, ref, outcome.response_url)
    return None


async def _announce(services: Services, who: Requester, ref: OperationRef, response_url: str | None) -> None:
    """``@alice stopped my-instance`` in the channel the command or click came from, through its
    response_url; from the Home tab (none), in the person's DM with the app."""
    message = render_operation_done(who.user_id, Operation(ref.action), ref.name, ref.project_id)
    try:
        if response_url:
            sent = await AsyncRespond(response_url=response_url)(
                **message.as_kwargs(), response_type="in_channel", replace_original=False
            )
            if sent.status_code == 200:
                return
            log.warning(
                "the channel was not told of the %s (response_url: HTTP %d)", ref.action, sent.status_code
            )
        await services.slack.call("chat_postMessage", channel=who.user_id, **message.as_kwargs())
    except Exception as error:
        # Only the error's type: the text of a failed request may hold the response_url, a capability.
        log.warning(
            "telling of the %s of %s failed (%s); it was done all the same",
            ref.action,
            ref.name,
            type(error).__name__,
        )
