"""``Access``: every rule checked in one place, before any Gcore call a request would make."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.access.operators import Operators
from bot.access.policy import AccessDenied, AccessProblem, Organization, actor_organization
from bot.config import Settings
from bot.slack.api import WebApi
from bot.slack.errors import SlackCallFailed

log = logging.getLogger(__name__)


class Access:
    """The settings' rules, and the facts they need from Slack: the bot's own organization (``auth.test``)
    and the operators' user groups."""

    def __init__(self, settings: Settings, slack: WebApi) -> None:
        self._slack = slack
        self._projects = settings.allowed_projects
        self._channels = settings.allowed_channel_ids or None
        self._external_allowed = settings.allow_external_users
        self.operators = Operators(slack, settings.operator_user_ids, settings.operator_usergroup_ids)
        self._own: Organization | None = None
        self._identify = asyncio.Lock()

    def remember_identity(self, identity: dict[str, Any]) -> None:
        """Keep the bot's organization from an ``auth.test`` answer."""
        team_id = identity.get("team_id")
        if isinstance(team_id, str) and team_id:
            enterprise_id = identity.get("enterprise_id")
            self._own = Organization(team_id, enterprise_id if isinstance(enterprise_id, str) else None)

    def allows_project(self, project_id: int) -> bool:
        """Whether people may see, watch and act on ``project_id``."""
        return self._projects is None or project_id in self._projects

    def check_project(self, project_id: int) -> None:
        """``AccessDenied`` unless ALLOWED_PROJECT_IDS allows ``project_id``."""
        if not self.allows_project(project_id):
            raise AccessDenied(AccessProblem.PROJECT, project_id=project_id)

    def allows_channel(self, channel_id: str) -> bool:
        """Whether the bot answers and posts in ``channel_id``."""
        return self._channels is None or channel_id in self._channels

    def check_channel(self, channel_id: str | None) -> None:
        """``AccessDenied`` unless ALLOWED_CHANNEL_IDS allows ``channel_id``; a request from no channel (the
        Home tab) passes."""
        if channel_id is not None and not self.allows_channel(channel_id):
            raise AccessDenied(AccessProblem.CHANNEL)

    async def check_person(self, body: dict[str, Any]) -> None:
        """``AccessDenied`` when the request comes from another organization and ALLOW_EXTERNAL_USERS is
        not true."""
        if not self._external_allowed:
            await self._check_organization(actor_organization(body))

    async def check_user(self, user_id: str) -> None:
        """``check_person`` for a request that names only its user (the Home tab's event): the user's
        organization is asked of Slack with ``users.info``."""
        if self._external_allowed:
            return
        user = (await self._slack.call("users_info", user=user_id)).get("user") or {}
        grid = user.get("enterprise_user")
        enterprise_id = grid.get("enterprise_id") if isinstance(grid, dict) else None
        team_id = user.get("team_id")
        await self._check_organization(
            Organization(
                team_id if isinstance(team_id, str) else None,
                enterprise_id if isinstance(enterprise_id, str) else None,
            )
        )

    async def _check_organization(self, theirs: Organization) -> None:
        own = await self._own_organization()
        if own is None:
            raise AccessDenied(AccessProblem.ORGANIZATION_UNKNOWN)
        if not own.includes(theirs):
            raise AccessDenied(AccessProblem.EXTERNAL_USER)

    async def check_operator(self, user_id: str) -> None:
        """``AccessDenied`` unless ``user_id`` may start and stop deployments."""
        if not self.operators.enabled:
            raise AccessDenied(AccessProblem.ACTIONS_OFF)
        if not await self.operators.includes(user_id):
            raise AccessDenied(AccessProblem.NOT_OPERATOR)

    async def _own_organization(self) -> Organization | None:
        """The bot's organization; asked of Slack again while the start-up check could not learn it."""
        if self._own is None:
            async with self._identify:
                if self._own is None:
                    try:
                        self.remember_identity(await self._slack.call("auth_test"))
                    except SlackCallFailed as failed:
                        log.warning("could not learn the bot's own Slack team (%s)", failed.failure.code)
        return self._own
