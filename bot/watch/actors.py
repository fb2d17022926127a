"""Who started an episode: one look in Gcore's audit log per episode, after its timeline is posted.

An alert never waits for it. Once a channel's timeline of a new episode is posted, a background task (not
the channel's delivery worker) takes the episode's one lookup in the store (``episode_actors``: taken once,
found or not, so it is never asked twice, even by another replica), asks Gcore for the newest action on the
deployment between a while before the episode opened and just after (unless an operator started or stopped
it from Slack shortly before, and the episode's new status is what that action leads to: then they are named,
from the bot's own audit), remembers who did it, and edits each
channel's timeline of the episode to name them. ``bot.watch.placement`` reads the stored actor whenever it
renders a timeline, so every later edit keeps it. The lookup is bounded (``LOOKUP_TIMEOUT_SECONDS``); when
it fails, or the key may not read the audit log, the timeline says nothing of an actor, and the log says
why once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.audit import Operation, operation_for
from bot.errors import DatabaseUnavailable
from bot.gcore.client import GcoreClient
from bot.gcore.errors import GcoreAuthError, GcoreError
from bot.gcore.models import DeploymentStatus, UserAction
from bot.history import EpisodeActor
from bot.slack.api import WebApi
from bot.slack.errors import SlackCallFailed
from bot.store import Store
from bot.tasks import TaskSet
from bot.watch.transitions import Transition

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT_SECONDS = 5.0
# How far before the poll that opened the episode the audit log is read (beyond one watch interval), and
# how far after, for clocks that differ.
LOOKBACK_MARGIN = timedelta(minutes=2)
CLOCK_SKEW = timedelta(seconds=30)
# How long before an episode opened a start or stop done from Slack still counts as its cause.
OWN_ACTIONS_BEFORE = timedelta(minutes=10)
# Lookups at once, and waiting: beyond that an episode goes without an actor rather than queueing forever.
LOOKUPS_AT_ONCE = 4
MAX_WAITING = 200
# Slack's answers for an edit it will not take as it is; the compact rendering is tried next.
TOO_LONG_ERRORS = frozenset({"msg_too_long", "invalid_blocks", "invalid_blocks_format"})


class Rendering(Protocol):
    """A message as the formatters build it (``formatters.blocks.Message``)."""

    def as_kwargs(self) -> dict[str, Any]: ...


# The channel's timeline of an episode rendered afresh (full, then compact forms), or None when it has none.
Rerender = Callable[[str, int, str, int], Awaitable[Sequence[Rendering] | None]]
# The lock a channel's delivery worker holds while it delivers: an edit made outside the worker takes it too,
# so it is rendered from the latest story and never lands after (and undoes) an edit of a later step.
ChannelLock = Callable[[str], asyncio.Lock]


def actor_of(actions: Sequence[UserAction], until: datetime) -> EpisodeActor | None:
    """Who took the newest action at or before ``until``: their email, else their user id."""
    for action in sorted(actions, key=lambda a: a.timestamp, reverse=True):
        if action.timestamp <= until:
            who = action.email or (f"user {action.user_id}" if action.user_id is not None else None)
            if who:
                return EpisodeActor(who=who, action=action.action_type, at=action.timestamp)
    return None


def led_to(status: str | None) -> Operation | None:
    """The action whose result an episode opening in ``status`` can be: a stop (it is stopped now) or a
    start (it serves or is rolling out); none for any other status."""
    offered = operation_for(DeploymentStatus.__members__.get(status or "", DeploymentStatus.UNKNOWN))
    if offered is Operation.START:
        return Operation.STOP
    if offered is Operation.STOP:
        return Operation.START
    return None


class ActorLookup:
    """Finds who started each episode, in the background, and edits the channels' timelines to say so."""

    def __init__(
        self,
        gcore: GcoreClient,
        store: Store,
        slack: WebApi,
        *,
        clock: Callable[[], datetime],
        lookback: timedelta,
        timeout: float = LOOKUP_TIMEOUT_SECONDS,
    ) -> None:
        """``lookback``: how far before the episode's first step the audit log is read (a watch interval
        and a margin)."""
        self._gcore, self._store, self._slack, self._clock = gcore, store, slack, clock
        self._lookback, self._timeout = lookback, timeout
        self._gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)
        self._tasks = TaskSet()
        # Told once per process: the key may not read the audit log.
        self._denied_told = False

    def timeline_posted(
        self, channel_id: str, first: Transition, ts: str, rerender: Rerender, lock: ChannelLock
    ) -> None:
        """A channel's timeline of ``first``'s episode was posted as ``ts``: look its actor up, unless
        someone did already (then name them in this timeline too, in case it was rendered before)."""
        if len(self._tasks) >= MAX_WAITING:
            log.warning("too many actor lookups waiting; this episode's timeline names no one")
            return
        self._tasks.keep(
            asyncio.create_task(self._run(channel_id, first, ts, rerender, lock), name="episode-actor")
        )

    async def wait_idle(self) -> None:
        """Wait for the lookups under way (tests)."""
        await self._tasks.wait_all()

    async def aclose(self) -> None:
        """Stop the lookups under way; their episodes go without an actor."""
        await self._tasks.cancel_all()

    async def _run(
        self, channel_id: str, first: Transition, ts: str, rerender: Rerender, lock: ChannelLock
    ) -> None:
        project_id, name, episode = first.project_id, first.name, first.episode
        try:
            async with self._gate:
                if await self._store.claim_actor_lookup(project_id, name, episode, self._clock()):
                    actor = await self._look_up(first)
                    if actor is None:
                        return
                    await self._store.save_episode_actor(project_id, name, episode, actor)
                    targets = await self._store.episode_threads(project_id, name, episode, "episode")
                elif await self._store.episode_actor(project_id, name, episode) is not None:
                    targets = [(channel_id, ts)]
                else:
                    return
            for channel, message_ts in targets:
                async with lock(channel):
                    await self._edit(channel, message_ts, await rerender(channel, project_id, name, episode))
        except DatabaseUnavailable:
            log.info("naming who started an episode of %s failed: the database does not answer", name)
        except Exception:
            log.exception("naming who started an episode of %s failed; its timeline names no one", name)

    async def _look_up(self, first: Transition) -> EpisodeActor | None:
        # The episode's id is its opening time in ms: the poll that saw its first step.
        opened = datetime.fromtimestamp(first.episode / 1000, UTC) if first.episode else first.at
        opened = min(opened, first.at)
        until = opened + CLOCK_SKEW
        # A start or stop confirmed in Slack shortly before names its operator (Gcore's log would only name
        # the owner of the bot's API key), when the episode is what it leads to: a stop is not the cause of
        # an episode of serving again, which someone else's start in Gcore is.
        action = led_to(first.new_status)
        since = opened - OWN_ACTIONS_BEFORE
        ours = (
            None
            if action is None
            else await self._store.last_done(first.project_id, first.name, since, until, action)
        )
        if ours is not None:
            return EpisodeActor(who=ours.user_id, action=ours.action.value, at=ours.at, in_slack=True)
        try:
            async with asyncio.timeout(self._timeout):
                actions = await self._gcore.user_actions(
                    first.project_id, first.name, opened - self._lookback, until
                )
        except TimeoutError:
            log.warning("Gcore's audit log did not answer within %g s; no actor named", self._timeout)
            return None
        except GcoreAuthError:
            if not self._denied_told:
                self._denied_told = True
                log.warning("the Gcore API key may not read the audit log; timelines will name no actor")
            return None
        except GcoreError as error:
            log.warning("Gcore's audit log could not be read (%s); no actor named", type(error).__name__)
            return None
        return actor_of(actions, until)

    async def _edit(self, channel_id: str, ts: str, renderings: Sequence[Rendering] | None) -> None:
        """Edit the timeline to the first rendering Slack takes; a failure leaves it as it was."""
        forms = list(renderings or ())
        for message in forms:
            try:
                await self._slack.paced(
                    "chat_update", channel_id, channel=channel_id, ts=ts, **message.as_kwargs()
                )
                return
            except SlackCallFailed as failed:
                if failed.failure.code not in TOO_LONG_ERRORS or message is forms[-1]:
                    log.warning("could not name the actor in %s (%s)", ts, failed.failure.code)
                    return
