"""Who may start and stop deployments: the users ``OPERATOR_USER_IDS`` names, and the members of the user
groups ``OPERATOR_USERGROUP_IDS`` names, looked up with ``usergroups.users.list`` and kept 5 minutes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.slack.api import WebApi
from bot.slack.errors import SlackCallFailed

log = logging.getLogger(__name__)

# How long a group's members are trusted: someone removed from the group loses the right within this.
GROUP_MEMBERS_SECONDS = 300.0
# After a failed lookup, the group is not asked again for this long: a Home tab round asks for every viewer.
FAILED_LOOKUP_SECONDS = 30.0


@dataclass
class _Group:
    """What is known of one user group: its members and when they were read, or the last failure."""

    members: frozenset[str] = frozenset()
    read_at: float | None = None
    failure: SlackCallFailed | None = None
    failed_at: float = 0.0
    lookup: asyncio.Task[None] | None = None


class Operators:
    """Whether a user is an operator.

    Each group is looked up on its own, when first needed and again once its members are older than
    ``GROUP_MEMBERS_SECONDS``; one lookup at a time per group, shared by everyone asking meanwhile, with no
    lock held while Slack answers. A group whose lookup failed grants nothing until a lookup succeeds, and
    is asked again after ``FAILED_LOOKUP_SECONDS``; the other groups still count. When the user is in no
    group that could be read and some could not, the failure is raised: the person hears Slack is in the
    way, not that they are no operator.
    """

    def __init__(
        self,
        slack: WebApi,
        users: Iterable[str],
        groups: Iterable[str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slack, self._clock = slack, clock
        self._users = frozenset(users)
        self._groups = {group: _Group() for group in sorted(groups)}

    @property
    def enabled(self) -> bool:
        """Whether anyone can be an operator; with neither setting, acting is off."""
        return bool(self._users or self._groups)

    async def includes(self, user_id: str) -> bool:
        """Whether ``user_id`` is an operator now; ``SlackCallFailed`` when that cannot be told."""
        if user_id in self._users:
            return True
        failure: SlackCallFailed | None = None
        for name, group in self._groups.items():
            await self._refresh(name, group)
            if group.read_at is not None and user_id in group.members:
                return True
            failure = failure or group.failure
        if failure is not None:
            raise failure
        return False

    async def _refresh(self, name: str, group: _Group) -> None:
        now = self._clock()
        fresh = group.read_at is not None and now - group.read_at < GROUP_MEMBERS_SECONDS
        resting = group.failure is not None and now - group.failed_at < FAILED_LOOKUP_SECONDS
        if fresh or resting:
            return
        if group.lookup is None or group.lookup.done():
            group.lookup = asyncio.create_task(self._look_up(name, group))
        # Shielded: one caller giving up (a cancelled request) does not cancel the others' lookup.
        await asyncio.shield(group.lookup)

    async def _look_up(self, name: str, group: _Group) -> None:
        try:
            answer = await self._slack.call("usergroups_users_list", usergroup=name)
        except SlackCallFailed as failed:
            log.warning("could not read the members of user group %s (%s)", name, failed.failure.code)
            # Members older than GROUP_MEMBERS_SECONDS are not trusted any more, whatever Slack says now.
            group.members, group.read_at = frozenset(), None
            group.failure, group.failed_at = failed, self._clock()
            return
        users = answer.get("users") or []
        group.members = frozenset(user for user in users if isinstance(user, str))
        group.read_at, group.failure = self._clock(), None
