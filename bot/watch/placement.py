"""Where each alert goes in its channel, and in what words: the top level, a thread, an edit.

Project notices and ``--flat`` subscriptions post every alert at the top level. Otherwise an episode is one
timeline message (``formatters.timeline``), edited as it goes, with a reply per step under it, and a
deployment's sleeping and waking is one digest message a day. Only the steps ``bot.watch.story`` says must
wake people mention the owners, and a reply that must wake them is broadcast to the channel.

A problem step that wakes people, and every ``--flat`` problem alert, carries the deployment's last log
lines (``bot.watch.logs``): in the alert itself, or, when the step is the episode's first and so its
message is the timeline (edited at every later step, which would drop them), in a reply under it. Planning
again after a crash fetches them again; the post is still made once (``bot.watch.notifier``).

A timeline names who started its episode once ``bot.watch.actors`` found them: its lookup starts when a
channel's timeline is kept (``keep``), after the post, and every rendering reads what it stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Protocol

from bot.gcore.models import LogEntry
from bot.store import DeliveryJob, Store
from bot.watch.actors import ActorLookup
from bot.watch.logs import AlertLogs
from bot.watch.story import failing, notifies
from bot.watch.transitions import AlertKind, Transition, is_routine_sleep
from formatters.alerts import render_alert, render_compact_alert
from formatters.blocks import Message
from formatters.logs import render_alert_logs
from formatters.timeline import render_sleep_digest, render_timeline

# What a remembered message is to later deliveries (the ``purpose`` of its row in ``threads``).
EPISODE = "episode"
FLAPPING = "flapping"
SLEEP = "sleep"


@dataclass
class Plan:
    """What one delivery does in the channel: post a message (top-level, or a reply under ``thread_ts``,
    broadcast to the channel when it must wake people), remember it as the message of ``keep``, reply under
    it with ``follow_up`` (quietly), and edit the message ``edit_ts``. Any part may be absent."""

    post: list[Message] | None = None
    thread_ts: str | None = None
    broadcast: bool = False
    keep: tuple[int, str] | None = None
    edit_ts: str | None = None
    edit: list[Message] | None = None
    follow_up: Message | None = None


class RegionSource(Protocol):
    """Region names by id (``bot.gcore.regions.RegionNames``)."""

    async def names(self) -> Mapping[int, str]: ...


class Placement:
    """Plans each delivery from what the store knows of the channel's story so far. ``logs`` gives problem
    alerts their last log lines, ``regions`` names regions, ``portal_url`` (the ``GCORE_PORTAL_URL``
    template) adds Open in Gcore to the messages with buttons, ``actors`` names who started an episode,
    ``operate`` (someone may be an operator) adds Stop or Start to problems' buttons."""

    def __init__(
        self,
        store: Store,
        stuck_after_seconds: int,
        logs: AlertLogs | None = None,
        *,
        regions: RegionSource | None = None,
        portal_url: str | None = None,
        actors: ActorLookup | None = None,
        operate: bool = False,
    ) -> None:
        self._store, self._stuck_after, self._logs = store, stuck_after_seconds, logs
        self._regions, self._portal_url, self._actors = regions, portal_url, actors
        self._operate = operate
        self._names: Mapping[int, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def channel_lock(self, channel_id: str) -> asyncio.Lock:
        """Held by the channel's delivery worker while it delivers, and by any edit made outside it."""
        return self._locks.setdefault(channel_id, asyncio.Lock())

    async def _region_names(self) -> Mapping[int, str]:
        """The names: ``RegionNames`` answers within its own bound, with the last ones known when Gcore
        does not, so an alert never waits long for them."""
        if self._regions is not None:
            self._names = await self._regions.names()
        return self._names

    def _renderings(
        self,
        t: Transition,
        *,
        with_buttons: bool = True,
        mentions: tuple[str, ...] = (),
        logs: list[LogEntry] | None = None,
    ) -> list[Message]:
        """The alert, then its compact form (no details, errors, logs or buttons) for when Slack refuses
        the full one."""
        return [
            render_alert(
                t,
                stuck_after_seconds=self._stuck_after,
                with_buttons=with_buttons,
                mentions=mentions,
                logs=logs or (),
                regions=self._names,
                portal_url=self._portal_url if with_buttons else None,
                operate=self._operate,
            ),
            render_compact_alert(t, stuck_after_seconds=self._stuck_after, regions=self._names),
        ]

    async def _log_lines(self, t: Transition) -> list[LogEntry]:
        """The problem's last log lines, newest first; none for other alerts, or when none came in time."""
        return await self._logs.for_alert(t) if self._logs is not None else []

    async def plan(self, job: DeliveryJob) -> Plan:
        """Where the delivery goes. Project notices and ``--flat`` subscriptions post every alert at the top
        level; otherwise an episode is one timeline message with a reply per step, and a deployment's
        sleeping and waking is one digest message a day. Only steps that must wake people mention the
        owners, and a reply that must wake them is broadcast to the channel."""
        t = job.transition
        if not t.name:
            # A project's outage and its end: every owner of the project in this channel hears it.
            owners = await self._store.mentions_for(job.channel_id, t.project_id, None)
            return Plan(post=self._renderings(t, mentions=owners))
        # A project's notice goes without: its region names would come from the Gcore that is failing.
        await self._region_names()
        if job.flat:
            return await self._flat_plan(job)
        if is_routine_sleep(t):
            return await self._digest_plan(job)
        story = await self._store.channel_story(
            job.channel_id, t.project_id, t.name, t.episode, job.transition_id
        )
        story = story or [t]
        loud, trouble = notifies(t, story[:-1]), failing(t)
        owners = (
            await self._store.mentions_for(job.channel_id, t.project_id, t.name) if loud or trouble else ()
        )
        parent = await self._store.thread(job.channel_id, t.project_id, t.name, t.episode, EPISODE)
        # Posted, the timeline names the owners only when this step must wake them; edited (which notifies
        # no one), it names them while the deployment is in trouble.
        named = owners if (loud if parent is None else trouble) else ()
        timeline = await self._timeline(story, named)
        logs = await self._log_lines(t) if loud else []
        if parent is None:
            return Plan(
                post=timeline, keep=(t.episode, EPISODE), follow_up=render_alert_logs(t, logs, self._names)
            )
        reply = self._renderings(t, with_buttons=False, mentions=owners if loud else (), logs=logs)
        return Plan(post=reply, thread_ts=parent, broadcast=loud, edit_ts=parent, edit=timeline)

    async def _timeline(self, story: list[Transition], mentions: tuple[str, ...]) -> list[Message]:
        """An episode's timeline (with who started it, once known), its compact form, and the latest step
        alone in short."""
        t = story[-1]
        actor = await self._store.episode_actor(t.project_id, t.name, t.episode)
        timeline = [
            render_timeline(
                story,
                stuck_after_seconds=self._stuck_after,
                mentions=mentions,
                compact=compact,
                regions=self._names,
                portal_url=self._portal_url,
                actor=actor,
                operate=self._operate,
            )
            for compact in (False, True)
        ]
        timeline.append(render_compact_alert(t, stuck_after_seconds=self._stuck_after, regions=self._names))
        return timeline

    async def keep(self, job: DeliveryJob, keep: tuple[int, str], ts: str) -> None:
        """Remember the delivery's message ``ts`` as the channel's message of ``keep``; a new episode's
        timeline then has its actor looked up, in the background."""
        t = job.transition
        key, purpose = keep
        await self._store.save_thread(job.channel_id, t.project_id, t.name, key, purpose, ts)
        if purpose == EPISODE and self._actors is not None:
            self._actors.timeline_posted(job.channel_id, t, ts, self.episode_timeline, self.channel_lock)

    async def episode_timeline(
        self, channel_id: str, project_id: int, name: str, episode: int
    ) -> list[Message] | None:
        """The channel's timeline of the episode as an edit renders it now, or None when it has none."""
        story = await self._store.channel_story(channel_id, project_id, name, episode, 2**62)
        if not story:
            return None
        owners = await self._store.mentions_for(channel_id, project_id, name) if failing(story[-1]) else ()
        return await self._timeline(story, owners)

    async def _flat_plan(self, job: DeliveryJob) -> Plan:
        """Every alert at the top level; flapping is one message edited in place, its end noted under it."""
        t = job.transition
        story = await self._store.channel_story(
            job.channel_id, t.project_id, t.name, t.episode, job.transition_id
        )
        loud = notifies(t, story[:-1])
        mentions = await self._store.mentions_for(job.channel_id, t.project_id, t.name) if loud else ()
        alert = self._renderings(t, mentions=mentions, logs=await self._log_lines(t))
        if t.kind not in (AlertKind.FLAPPING, AlertKind.STABLE):
            return Plan(post=alert)
        flap_ts = await self._store.thread(job.channel_id, t.project_id, t.name, t.episode, FLAPPING)
        if flap_ts is None:
            return Plan(post=alert, keep=(t.episode, FLAPPING))
        if t.kind is AlertKind.STABLE:
            note = self._renderings(t, with_buttons=False, mentions=mentions)
            return Plan(post=note, thread_ts=flap_ts, broadcast=True, edit_ts=flap_ts, edit=alert)
        return Plan(edit_ts=flap_ts, edit=alert)

    async def _digest_plan(self, job: DeliveryJob) -> Plan:
        """The day's one message about the deployment sleeping and waking: posted once, then edited."""
        t = job.transition
        day = t.at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        story = await self._store.channel_story(
            job.channel_id, t.project_id, t.name, 0, job.transition_id, since=day
        )
        digest = [
            render_sleep_digest(story or [t], portal_url=self._portal_url),
            render_compact_alert(t, stuck_after_seconds=self._stuck_after),
        ]
        key = int(day.strftime("%Y%m%d"))
        digest_ts = await self._store.thread(job.channel_id, t.project_id, t.name, key, SLEEP)
        if digest_ts is None:
            return Plan(post=digest, keep=(key, SLEEP))
        return Plan(edit_ts=digest_ts, edit=digest)
