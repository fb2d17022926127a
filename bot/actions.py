"""Interactive component ids and the small payloads their buttons carry.

Button values are JSON of these models, written with ``model_dump_json`` and read back with
``model_validate_json``, so a value can never be half-parsed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from bot.errors import ArgumentProblem, BadArgument
from bot.gcore.models import MAX_PROJECT_ID, deployment_name_problem

ValueT = TypeVar("ValueT", bound=BaseModel)
# The largest id or page number a value may name: the store's ids are INTEGER columns, and a larger one
# would fail on PostgreSQL ("integer out of range") instead of being a stale button.
MAX_ROW_ID = 2**31 - 1


class ActionId(StrEnum):
    """Every ``action_id`` the bot puts on a button."""

    REFRESH = "deployment.refresh"
    SHARE = "deployment.share"
    DETAILS = "deployment.details"
    OPEN_ADDRESS = "deployment.open_address"
    # The link to the deployment in Gcore's portal, on cards and alerts (GCORE_PORTAL_URL).
    OPEN_PORTAL = "deployment.open_portal"
    SHOW_CARD = "deployment.show_card"
    LIST_PREVIOUS = "listing.previous"
    LIST_NEXT = "listing.next"
    WATCH_DEPLOYMENT = "watch.deployment"
    UNWATCH_DEPLOYMENT = "unwatch.deployment"
    UNWATCH_SUBSCRIPTION = "unwatch.subscription"
    # An alert's "Card" button; the id predates its name, and old alerts in channels still carry it.
    ALERT_REFRESH = "alert.refresh"
    MUTE_DEPLOYMENT = "mute.deployment"
    UNWATCH_PROJECT = "unwatch.project"
    # An alert's "Logs" button: the deployment's last log lines, for the clicker alone.
    SHOW_LOGS = "alert.show_logs"
    # A "History" button: the deployment's latest episodes, for the clicker alone.
    SHOW_HISTORY = "deployment.history"
    # Stop/Start on cards, problem alerts and the Home tab (a DeploymentRef): each opens a confirmation.
    STOP_DEPLOYMENT = "deployment.stop"
    START_DEPLOYMENT = "deployment.start"


def _deployment_name(name: str, info: ValidationInfo) -> str:
    """``name`` read back from Slack (JSON) if it can be a deployment's, as a typed one is checked; else a
    ValueError, so a tampered value is a stale button and never reaches the audit or Gcore. A name the bot
    renders from Gcore's answer (Python) is taken as it is: a button is never the reason a card fails."""
    if info.mode == "json" and deployment_name_problem(name) is not None:
        raise ValueError("not a deployment name")
    return name


class DeploymentRef(BaseModel):
    """Which deployment a button is about."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project_id: int = Field(gt=0, le=MAX_PROJECT_ID)
    name: str

    _name = field_validator("name")(_deployment_name)


class CardRef(DeploymentRef):
    """A deployment card's buttons: the deployment, who shared the card, whether it is a channel message."""

    shared_by: str | None = None
    in_channel: bool = False


class SubscriptionRef(BaseModel):
    """Which subscription an Unwatch button in the `watching` list removes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A subscription's id: an INTEGER column, so refused past it before any query.
    id: int = Field(gt=0, le=MAX_ROW_ID)


class ListPage(BaseModel):
    """Which page of a project's deployment list a button shows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project_id: int = Field(gt=0, le=MAX_PROJECT_ID)
    page: int = Field(ge=0, le=MAX_ROW_ID)
    # ``list --problems``: only the deployments that need attention.
    problems: bool = False


# The confirmation modal of a Stop or Start: its ``callback_id``, and its ``private_metadata`` (an OperationRef).
CONFIRM_OPERATION = "operation.confirm"


class OperationRef(BaseModel):
    """What a Stop or Start confirmation is about: the deployment and the action, the idempotency key made
    when the confirmation was rendered (one per click), and the channel to say it was done in (none from
    the Home tab). It travels through Slack's client, so it holds no capability: the response_url stays in
    the store (``confirmations``), under the key. Slack keeps it under 3000 characters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project_id: int = Field(gt=0, le=MAX_PROJECT_ID)
    name: str
    action: Literal["stop", "start"]
    key: str = Field(pattern=r"^[0-9a-f]{32}$")
    channel_id: str | None = Field(default=None, max_length=32)

    _name = field_validator("name")(_deployment_name)


class ProjectCheck(Protocol):
    """What ``read_value`` checks a button's project against: ``bot.access.Access`` in the program."""

    def check_project(self, project_id: int) -> None: ...


def read_value(model: type[ValueT], body: dict[str, Any], access: ProjectCheck) -> ValueT:
    """The clicked button's value read back into its model; a stale or forged one gets a sentence, not a
    traceback. A value is data, not a credential: the project it names is checked against ``access`` as a
    typed ``--project`` is (``AccessDenied``), before anything is asked of Gcore."""
    clicked = body.get("actions") or [{}]
    raw = clicked[0].get("value") if isinstance(clicked[0], dict) else None
    try:
        value = model.model_validate_json(raw if isinstance(raw, str) else "")
    except ValidationError:
        raise BadArgument(ArgumentProblem.STALE_BUTTON) from None
    project_id = getattr(value, "project_id", None)
    if isinstance(project_id, int):
        access.check_project(project_id)
    return value


def message_channel(body: dict[str, Any]) -> str:
    """The channel of a click on a message. Slack sends every such click with its channel and a
    response_url; one lacking either (no Slack client sends it) is a stale button, answered where it can
    be, before anything is asked of Gcore or the store."""
    channel = body.get("channel")
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    if not isinstance(channel_id, str) or not channel_id or not body.get("response_url"):
        raise BadArgument(ArgumentProblem.STALE_BUTTON)
    return channel_id
