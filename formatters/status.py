"""How each deployment status looks and reads, in one table (from the API's own description of each)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.gcore.models import Deployment, DeploymentStatus
from formatters.text import code


@dataclass(frozen=True)
class StatusLook:
    """A status's emoji, short label and meaning for a person."""

    emoji: str
    label: str
    meaning: str


STATUS_LOOKS: dict[DeploymentStatus, StatusLook] = {
    DeploymentStatus.DEPLOYING: StatusLook(
        "🔵", "Deploying", "Being deployed; containers are not created yet."
    ),
    DeploymentStatus.PARTIALLYDEPLOYED: StatusLook(
        "🟡",
        "Partially deployed",
        "Containers are created but not all are ready. If it stays here, an image is still being pulled "
        "or something failed: the container errors say which.",
    ),
    DeploymentStatus.ACTIVE: StatusLook("🟢", "Active", "Running and ready to accept requests."),
    DeploymentStatus.DISABLED: StatusLook("⚪", "Disabled", "Stopped; not accepting requests."),
    DeploymentStatus.PENDING: StatusLook(
        "💤", "Scaled to zero", "Running but scaled to zero; it scales up again on the next request."
    ),
    DeploymentStatus.DELETING: StatusLook("🗑️", "Deleting", "Being deleted."),
    DeploymentStatus.UNKNOWN: StatusLook(
        "❔", "Unknown", "Gcore reports a status this bot does not know yet."
    ),
}


def status_look(deployment: Deployment) -> StatusLook:
    """The look of the deployment's status."""
    return STATUS_LOOKS[deployment.state]


def status_label(deployment: Deployment) -> str:
    """The status in words, with the raw value when it is one we do not know (escaped for mrkdwn)."""
    look = status_look(deployment)
    if deployment.state is DeploymentStatus.UNKNOWN:
        return f"{look.label} ({code(deployment.status)})"
    return look.label
