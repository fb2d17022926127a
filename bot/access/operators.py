"""Who may start and stop deployments: the users ``OPERATOR_USER_IDS`` names, and the members of the user
groups ``OPERATOR_USERGROUP_IDS`` names, looked up with ``usergroups.users.list`` and kept 5 minutes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from bot.slack.api import WebApi

# How long a group's members are trusted: someone removed from the group loses the right within this.
GROUP_MEMBERS_SECONDS = 300.0


class Operators:
    """Whether a user is an operator. Group members are fetched when first needed and again once they are
    older than ``GROUP_MEMBERS_SECONDS``; a failed lookup raises ``SlackCallFailed`` and grants nothing."""

    def __init__(
        self,
        slack: WebApi,
        users: Iterable[str],
        groups: Iterable[str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slack, self._clock = slack, clock
        self._users, self._groups = frozenset(users), tuple(sorted(groups))
        self._members: frozenset[str] = frozenset()
        self._fetched_at: float | None = None
        self._refresh = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        """Whether anyone can be an operator; with neither setting, acting is off."""
        return bool(self._users or self._groups)

    async def includes(self, user_id: str) -> bool:
        """Whether ``user_id`` is an operator now."""
        if user_id in self._users:
            return True
        if not self._groups:
            return False
        return user_id in await self._group_members()

    async def _group_members(self) -> frozenset[str]:
        async with self._refresh:
            if self._fetched_at is None or self._clock() - self._fetched_at >= GROUP_MEMBERS_SECONDS:
                members: set[str] = set()
                for group in self._groups:
                    answer = await self._slack.call("usergroups_users_list", usergroup=group)
                    members.update(user for user in answer.get("users") or [] if isinstance(user, str))
                self._members, self._fetched_at = frozenset(members), self._clock()
            return self._members
