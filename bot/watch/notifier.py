"""Delivers recorded transitions to Slack: in order per channel, at most about one message a second per
channel, each exactly once, even across a crash, and each channel independently of the others.

Exactly once:
- only the leader delivers (with SQLite the one process that holds the file), and its claim of a delivery,
  the move to ``sending`` before the post, is refused once another replica holds the leader lock;
- the post carries the delivery id in Slack message metadata, and a delivery found ``sending`` (after a
  restart, or a post whose answer was lost) is looked up in the channel (or thread) history by that id
  before anything is posted again;
- a ``sending`` delivery another process claimed is left alone until a post of that process could no
  longer be in flight (``SENDING_GRACE``), so a new leader never races the old one's last post;
- the client that posts has no retry handlers of its own: a retry inside slack_sdk would post again
  without that lookup;
- a quiet reply a delivery makes under its own message (the log lines of an episode's first problem)
  carries its own metadata event, looked up under that message the same way before it is posted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.health import Health
from bot.slack.api import POST_TIMEOUT_SECONDS, WebApi
from bot.slack.auth import TokenRecheck
from bot.slack.errors import SlackCallFailed, SlackFailure, SlackFailureKind
from bot.store import DeliveryJob, DeliveryState, NotLeader, Store
from bot.store.reach import failures_logged
from bot.watch.delivery_outcomes import ChannelUnavailable, DeliveryDeferred, DeliveryFailed
from bot.watch.pauses import DEFAULT_RECHECK_SECONDS, ChannelPauses
from bot.watch.placement import Placement, Plan
from formatters.blocks import Message

log = logging.getLogger(__name__)

METADATA_EVENT = "inference_bot_alert"
# The metadata of a delivery's quiet reply under its own message.
FOLLOW_UP_EVENT = "inference_bot_alert_follow_up"
# How far back a restarted bot looks for a post it may have made before dying.
RECONCILE_WINDOW = timedelta(minutes=10)
MAX_ATTEMPTS = 5
# How often the delivery loop looks without being woken: alone on a SQLite file, to retry what failed;
# with PostgreSQL sooner, for what the replicas polling other projects recorded.
IDLE_SECONDS, SHARED_IDLE_SECONDS = 5.0, 1.0
# Channels served at once; each is paced by its own bucket, so this only bounds open requests to Slack.
CHANNELS_AT_ONCE = 100
# How long a delivery another process claimed is left alone: past the posting timeout, that process's post
# has landed or failed, and the history lookup tells which.
SENDING_GRACE = timedelta(seconds=POST_TIMEOUT_SECONDS + 5)
# Slack's answers for a message it will not take as it is; the compact rendering is tried before giving up.
TOO_LONG_ERRORS = frozenset({"msg_too_long", "invalid_blocks", "invalid_blocks_format"})


class Notifier:
    """Sends open deliveries from the store to Slack, one worker per channel with something to send."""

    def __init__(
        self,
        slack: WebApi,
        store: Store,
        health: Health,
        *,
        clock: Callable[[], datetime],
        stuck_after_seconds: int,
        pauses: ChannelPauses | None = None,
        token: TokenRecheck | None = None,
        placement: Placement | None = None,
    ) -> None:
        """``placement`` decides where each alert goes and how it looks; by default with no log lines,
        region names or portal link."""
        self._slack, self._store, self._health, self._clock = slack, store, health, clock
        self._placement = placement or Placement(store, stuck_after_seconds)
        self._pauses = pauses or ChannelPauses(slack, store, recheck_seconds=DEFAULT_RECHECK_SECONDS)
        self._token = token or TokenRecheck(slack, health)
        self._wake = asyncio.Event()
        self._gate = asyncio.Semaphore(CHANNELS_AT_ONCE)
        # Channels whose worker runs, and channels with news since their worker last read the store.
        self._workers: dict[str, asyncio.Task[int]] = {}
        self._dirty: set[str] = set()
        # Deliveries this process moved to ``sending``: only its own need no grace before the lookup.
        self._claimed: set[int] = set()
        # With SQLite no other process can have claimed anything: the file lock keeps them out.
        self._grace = SENDING_GRACE if store.backend == "postgresql" else timedelta(0)

    def wake(self) -> None:
        """Ask the delivery loop to run now."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Deliver whenever woken, and every few seconds to retry what failed; with PostgreSQL every second,
        since other replicas record transitions this one delivers without waking it."""
        idle_seconds = SHARED_IDLE_SECONDS if self._store.backend == "postgresql" else IDLE_SECONDS
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancellation that arrives as
            # the wake-up does, and the bot would then never finish stopping.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle_seconds):
                    await self._wake.wait()
            self._wake.clear()
            with failures_logged(log, "delivery round failed; retrying on the next one"):
                if not self._health.ok:
                    await self._token.wait_until_valid()
                await self._dispatch()

    async def deliver_open(self) -> int:
        """Deliver every open delivery and wait for it; returns how many were completed."""
        started = await self._dispatch()
        return sum(await asyncio.gather(*started))

    async def _dispatch(self) -> list[asyncio.Task[int]]:
        """Start a worker for each channel with open deliveries that has none; the workers started.

        A channel's worker reads and sends that channel's queue alone, so a channel waiting out a 429 or
        a slow Slack holds up nobody else.
        """
        if not await self._store.lead():
            self._step_down()
            return []
        started = []
        for channel_id in await self._store.open_delivery_channels():
            self._dirty.add(channel_id)
            if channel_id not in self._workers:
                worker = asyncio.create_task(self._channel_worker(channel_id), name=f"deliver-{channel_id}")
                self._workers[channel_id] = worker
                started.append(worker)
        return started

    def _step_down(self) -> None:
        """No longer the leader: stop every worker, and forget which claims were ours, since the next
        leader may have claimed them again by the time this process leads once more."""
        for worker in list(self._workers.values()):
            worker.cancel()
        self._claimed.clear()

    def in_flight(self) -> int:
        """Channels whose worker is delivering."""
        return len(self._workers)

    async def finish(self) -> None:
        """Wait for the workers; once the bot is stopping, each ends after the delivery it is on."""
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop the delivery workers; what they left ``sending`` is looked up on the next start."""
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _channel_worker(self, channel_id: str) -> int:
        delivered = 0
        try:
            with failures_logged(log, "delivering to %s failed; retrying on the next round", channel_id):
                async with self._gate, self._placement.channel_lock(channel_id):
                    # Reads again while the dispatcher saw news after the last read: nothing waits a round.
                    while channel_id in self._dirty:
                        self._dirty.discard(channel_id)
                        jobs = await self._store.open_deliveries(channel_id)
                        done, finished = await self._deliver_channel(jobs)
                        delivered += done
                        if not finished:
                            break
        finally:
            del self._workers[channel_id]
        return delivered

    async def _deliver_channel(self, jobs: list[DeliveryJob]) -> tuple[int, bool]:
        """Deliver in order; how many were done, and whether the queue was worked through."""
        delivered = 0
        for job in jobs:
            if not self._health.ok or self._health.draining:
                return delivered, False
            try:
                await self._deliver(job)
            except ChannelUnavailable as unavailable:
                if not await self._pauses.pause_if_gone(job.channel_id, unavailable.failure.code):
                    await self._count_failure(job, unavailable.failure)
                return delivered, False
            except DeliveryFailed as failed:
                await self._count_failure(job, failed.failure)
                # Later alerts of this channel wait, so the channel never sees them out of order.
                return delivered, False
            except DeliveryDeferred:
                log.info("delivery %d may still be in flight from another replica; waiting", job.id)
                return delivered, False
            except NotLeader:
                log.warning("no longer the leader; leaving delivery %d to the replica that is", job.id)
                return delivered, False
            delivered += 1
        return delivered, True

    async def _deliver(self, job: DeliveryJob) -> None:
        # Edits and thread updates are not claims, so leadership is checked before each delivery too.
        if not await self._store.lead():
            raise NotLeader()
        plan = await self._placement.plan(job)
        ts = job.ts if job.state is DeliveryState.POSTED else None
        if ts is None and plan.post is not None:
            if (
                job.state is DeliveryState.SENDING
                and job.id not in self._claimed
                and self._clock() - job.updated_at < self._grace
            ):
                raise DeliveryDeferred()
            ts = await self._post_once(job, plan.post, thread_ts=plan.thread_ts, broadcast=plan.broadcast)
        await self._finish(job, ts, plan)

    async def _finish(self, job: DeliveryJob, ts: str | None, plan: Plan) -> None:
        """After the post: remember a new message, bring the edited one up to date; then mark it done.
        Each step may be repeated after a crash without harm."""
        if plan.keep is not None and ts is not None:
            await self._placement.keep(job, plan.keep, ts)
        if plan.follow_up is not None and ts is not None:
            await self._follow_up(job, ts, plan.follow_up)
        if plan.edit_ts is not None and plan.edit is not None:
            try:
                await self._update(job.channel_id, plan.edit_ts, plan.edit)
            except DeliveryFailed as failed:
                if failed.failure.kind is not SlackFailureKind.REJECTED:
                    raise
                # Deleted, or no longer editable: this alert stands (posted, or nothing new to post), and
                # the next one starts a new message rather than stalling the channel on this one.
                log.warning(
                    "could not edit %s (%s); the next alert starts a new message", plan.edit_ts, failed
                )
                await self._store.forget_thread(job.channel_id, plan.edit_ts)
        await self._store.mark_delivery(job.id, DeliveryState.DONE, self._clock())
        self._claimed.discard(job.id)

    async def _post_once(
        self, job: DeliveryJob, renderings: list[Message], *, thread_ts: str | None, broadcast: bool = False
    ) -> str:
        """Post the first rendering Slack takes, unless a post of this delivery is already in the channel.

        Each attempt is claimed right before its one call, after any wait for the channel's turn or a 429,
        so no claim outlives a post in flight by more than the posting timeout.
        """
        if job.state is DeliveryState.SENDING:
            found = await self._find_earlier_post(job, thread_ts)
            if found is not None:
                log.info("delivery %d was posted before; not posting it again", job.id)
                await self._store.mark_delivery(job.id, DeliveryState.POSTED, self._clock(), ts=found)
                return found

        async def claim() -> None:
            if not await self._store.claim_delivery(job.id, self._clock(), thread_ts=thread_ts):
                raise DeliveryDeferred()
            self._claimed.add(job.id)

        for message in renderings:
            kwargs: dict[str, Any] = {
                **message.as_kwargs(),
                "channel": job.channel_id,
                "metadata": {"event_type": METADATA_EVENT, "event_payload": {"delivery_id": job.id}},
                "unfurl_links": False,
                "unfurl_media": False,
            }
            if thread_ts is not None:
                kwargs.update(thread_ts=thread_ts, reply_broadcast=broadcast)
            try:
                response = await self._call("chat_postMessage", job.channel_id, before=claim, **kwargs)
            except DeliveryFailed as failed:
                if failed.failure.code not in TOO_LONG_ERRORS or message is renderings[-1]:
                    raise
                log.warning("Slack refused delivery %d as %s; posting its compact form", job.id, failed)
                continue
            ts = str(response["ts"])
            await self._store.mark_delivery(job.id, DeliveryState.POSTED, self._clock(), ts=ts)
            return ts
        raise AssertionError("no rendering to post")

    async def _follow_up(self, job: DeliveryJob, ts: str, message: Message) -> None:
        """Reply under the delivery's message ``ts``, quietly and once: a delivery read as anything but
        ``pending`` may have replied before, and looks first. A failure loses the reply, never the alert."""
        try:
            if job.state is not DeliveryState.PENDING and await self._find_earlier_post(
                job, ts, FOLLOW_UP_EVENT
            ):
                return
            await self._call(
                "chat_postMessage",
                job.channel_id,
                **message.as_kwargs(),
                channel=job.channel_id,
                thread_ts=ts,
                metadata={"event_type": FOLLOW_UP_EVENT, "event_payload": {"delivery_id": job.id}},
                unfurl_links=False,
                unfurl_media=False,
            )
        except (ChannelUnavailable, DeliveryFailed) as failed:
            log.warning(
                "delivery %d's reply under %s was not posted (%s); the alert stands", job.id, ts, failed
            )

    async def _find_earlier_post(
        self, job: DeliveryJob, thread_ts: str | None, event_type: str = METADATA_EVENT
    ) -> str | None:
        """The ts of this delivery's message (or of the message of ``event_type``) if a previous run posted
        it, found by its metadata."""
        oldest = (job.updated_at - RECONCILE_WINDOW).timestamp()
        cursor = ""
        for _ in range(20):
            if thread_ts is not None:
                page = await self._call(
                    "conversations_replies",
                    job.channel_id,
                    channel=job.channel_id,
                    ts=thread_ts,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor or None,
                )
            else:
                page = await self._call(
                    "conversations_history",
                    job.channel_id,
                    channel=job.channel_id,
                    oldest=f"{oldest:.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor or None,
                )
            for message in page.get("messages", []):
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") == event_type and (
                    metadata.get("event_payload", {}).get("delivery_id") == job.id
                ):
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return None
        return None

    async def _update(self, channel_id: str, ts: str, renderings: list[Message]) -> None:
        """Edit a message to the first rendering Slack takes."""
        for message in renderings:
            try:
                await self._call("chat_update", channel_id, channel=channel_id, ts=ts, **message.as_kwargs())
                return
            except DeliveryFailed as failed:
                if failed.failure.code not in TOO_LONG_ERRORS or message is renderings[-1]:
                    raise
                log.warning("Slack refused an edit of %s as %s; using the compact form", ts, failed)

    async def _call(
        self,
        method: str,
        channel_id: str,
        *,
        before: Callable[[], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One paced Web API call for the channel; a failure becomes what the delivery loop acts on."""
        try:
            return await self._slack.paced(method, channel_id, before=before, **kwargs)
        except SlackCallFailed as failed:
            failure = failed.failure
        if failure.kind is SlackFailureKind.CHANNEL_GONE:
            raise ChannelUnavailable(failure)
        if failure.kind is SlackFailureKind.AUTH and self._health.slack_token_rejected is None:
            log.error("Slack rejected the bot token (%s); alerts are held until it is fixed", failure.code)
            self._health.slack_token_rejected = failure.code
        raise DeliveryFailed(failure)

    async def _count_failure(self, job: DeliveryJob, failure: SlackFailure) -> None:
        # A rejected message fails the same way each time; give up after a few tries so others can go.
        # Any other failure keeps the delivery's state: one that is ``sending`` may have been posted, and
        # its next attempt looks for it in the channel first.
        # So does a channel Slack keeps calling gone while conversations.info says it is fine: its queue
        # must not stay blocked.
        lasting = failure.kind in (SlackFailureKind.REJECTED, SlackFailureKind.CHANNEL_GONE)
        give_up = lasting and job.attempts + 1 >= MAX_ATTEMPTS
        if give_up:
            log.error("giving up on delivery %d to %s: %s", job.id, job.channel_id, failure.code)
            self._claimed.discard(job.id)
        else:
            log.warning("delivery %d to %s failed (%s); will retry", job.id, job.channel_id, failure.code)
        await self._store.record_delivery_failure(job.id, failure.code, give_up=give_up)
