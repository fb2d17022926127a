"""The rules as data: what a refusal is, and which organization a Slack request comes from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.errors import UserFacingError


class AccessProblem(StrEnum):
    """Why a request is refused; each names the setting that would allow it."""

    PROJECT = "project"  # ALLOWED_PROJECT_IDS
    CHANNEL = "channel"  # ALLOWED_CHANNEL_IDS
    EXTERNAL_USER = "external_user"  # ALLOW_EXTERNAL_USERS
    # The bot's own organization is not known yet (Slack did not answer auth.test): nobody is let in blind.
    ORGANIZATION_UNKNOWN = "organization_unknown"
    NOT_OPERATOR = "not_operator"  # OPERATOR_USER_IDS, OPERATOR_USERGROUP_IDS
    ACTIONS_OFF = "actions_off"  # neither operator setting is set


class AccessDenied(UserFacingError):
    """A request the rules refuse: ``problem`` says which rule, ``project_id`` the project it named."""

    def __init__(self, problem: AccessProblem, *, project_id: int | None = None) -> None:
        super().__init__(f"{problem}: {project_id}" if project_id is not None else str(problem))
        self.problem, self.project_id = problem, project_id


@dataclass(frozen=True)
class Organization:
    """A Slack workspace (``team_id``) and the Enterprise Grid organization it belongs to, if any."""

    team_id: str | None
    enterprise_id: str | None = None

    def includes(self, other: Organization) -> bool:
        """Whether ``other`` is this organization: the same team, and no other enterprise. A workspace of
        the same Grid organization is still another team, and so outside, as the rule is written."""
        if self.team_id is None or other.team_id != self.team_id:
            return False
        return other.enterprise_id is None or other.enterprise_id == self.enterprise_id


def _id_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) and found else None
    return None


def actor_organization(body: dict[str, Any]) -> Organization:
    """The organization of the person behind a slash command or an interaction.

    Interactions name the user's own team in ``user.team_id``; ``team`` may be the workspace the app is
    installed in, so it is only a fallback. Slash commands carry ``team_id`` and ``enterprise_id``.
    """
    user = body.get("user")
    team_id = user.get("team_id") if isinstance(user, dict) else None
    if not isinstance(team_id, str) or not team_id:
        team_id = _id_of(body.get("team_id")) or _id_of(body.get("team"))
    enterprise_id = _id_of(body.get("enterprise_id")) or _id_of(body.get("enterprise"))
    team = body.get("team")
    if enterprise_id is None and isinstance(team, dict):
        enterprise_id = _id_of(team.get("enterprise_id"))
    return Organization(team_id, enterprise_id)
