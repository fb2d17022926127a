"""Replies about subscriptions: confirmations of watch/unwatch and the channel's `watching` list."""

from __future__ import annotations

from typing import Any

from bot.actions import ActionId, SubscriptionRef
from bot.watch.subscriptions import SubscribeOutcome, Subscription
from formatters.blocks import Block, Message, button, context, header, section
from formatters.limits import MAX_BLOCKS_PER_MESSAGE
from formatters.text import code, plural

# Header, intro and footer leave this many rows.
WATCHING_ROWS_SHOWN = MAX_BLOCKS_PER_MESSAGE - 5


def describe_target(subscription: Subscription) -> str:
    """``my-instance`` (project 1), or every deployment of project 1."""
    if subscription.watches_all:
        return f"every deployment of project {subscription.project_id}"
    return f"{code(subscription.target)} (project {subscription.project_id})"


def describe_options(subscription: Subscription) -> str:
    """What the subscription posts, in words."""
    what = "problems and their recoveries" if subscription.only_problems else "every status change"
    how = "each as its own message" if subscription.flat else "one message per rollout, steps in its thread"
    return f"{what}, {how}"


def render_watch_result(subscription: Subscription, outcome: SubscribeOutcome, user_id: str) -> Message:
    """The reply to `watch`: visible in the channel when something changed, to the asker alone otherwise."""
    target = describe_target(subscription)
    if outcome is SubscribeOutcome.UNCHANGED:
        text = f"This channel already watches {target}: {describe_options(subscription)}. Nothing changed."
    elif outcome is SubscribeOutcome.RESUMED:
        text = f"<@{user_id}> resumed alerts here for {target}: {describe_options(subscription)}."
    elif outcome is SubscribeOutcome.UPDATED:
        text = f"<@{user_id}> changed alerts here for {target}: now {describe_options(subscription)}."
    else:
        text = (
            f"👀 <@{user_id}> is watching {target} in this channel: {describe_options(subscription)}. "
            "`/inference unwatch` stops it."
        )
    return Message(text=text, blocks=[section(text)])


def render_unwatch_result(removed: Subscription, user_id: str) -> Message:
    """The channel's note that alerts stopped."""
    text = f"<@{user_id}> stopped alerts here for {describe_target(removed)}."
    return Message(text=text, blocks=[section(text)])


def render_not_watching(target: str, project_id: int, *, watches_all: bool) -> Message:
    """Unwatch of something the channel does not watch by that name."""
    if watches_all:
        text = (
            f"This channel watches every deployment of project {project_id}, not {code(target)} alone; "
            "`/inference unwatch --all` stops that."
        )
    elif target == "*":
        text = f"This channel does not watch all of project {project_id}; `/inference watching` lists what it does."
    else:
        text = f"This channel does not watch {code(target)} in project {project_id}."
    return Message(text=text, blocks=[section(text)])


def watch_reply(subscription: Subscription, outcome: SubscribeOutcome, user_id: str) -> dict[str, Any]:
    """``respond`` arguments for a watch: in the channel when something changed, to the asker otherwise."""
    reply = render_watch_result(subscription, outcome, user_id)
    visibility = "ephemeral" if outcome is SubscribeOutcome.UNCHANGED else "in_channel"
    return {**reply.as_kwargs(), "response_type": visibility, "replace_original": False}


def unwatch_reply(
    removed: Subscription | None, target: str, project_id: int, *, watches_all: bool, user_id: str
) -> dict[str, Any]:
    """``respond`` arguments for an unwatch: the channel hears that alerts stopped; the asker alone hears
    that there was nothing to stop."""
    if removed is None:
        reply = render_not_watching(target, project_id, watches_all=watches_all)
        return {**reply.as_kwargs(), "response_type": "ephemeral", "replace_original": False}
    said = render_unwatch_result(removed, user_id)
    return {**said.as_kwargs(), "response_type": "in_channel", "replace_original": False}


def render_watching(subscriptions: list[Subscription]) -> Message:
    """The channel's subscriptions, each with an Unwatch button; paused ones say why."""
    if not subscriptions:
        text = "This channel watches nothing yet. `/inference watch my-instance` or `/inference watch --all` start."
        return Message(text=text, blocks=[section(text)])
    blocks: list[Block] = [header("Watched in this channel")]
    for subscription in subscriptions[:WATCHING_ROWS_SHOWN]:
        line = f"*{describe_target(subscription)}*\n{describe_options(subscription)}"
        if subscription.paused_reason:
            line = f"⏸️ {line}\n_paused ({code(subscription.paused_reason)}): run the same `watch` to resume_"
        ref = SubscriptionRef(id=subscription.id).model_dump_json()
        blocks.append(section(line, button("Unwatch", ActionId.UNWATCH_SUBSCRIPTION, value=ref)))
    if len(subscriptions) > WATCHING_ROWS_SHOWN:
        blocks.append(context(f"…and {len(subscriptions) - WATCHING_ROWS_SHOWN} more"))
    return Message(text=f"This channel has {plural(len(subscriptions), 'subscription')}", blocks=blocks)
