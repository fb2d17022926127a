"""Replies about subscriptions: confirmations of watch/unwatch and the channel's `watching` list."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.actions import ActionId, SubscriptionRef
from bot.watch.subscriptions import SubscribeOutcome, Subscription
from formatters.alerts import unwatch_confirmation
from formatters.blocks import Block, Message, blocks_text_length, button, context, header, section
from formatters.limits import MAX_BLOCKS_PER_MESSAGE, MESSAGE_BLOCKS_TEXT_BUDGET
from formatters.pauses import pause_why
from formatters.text import code, plural

# Header, intro and footer leave this many rows.
WATCHING_ROWS_SHOWN = MAX_BLOCKS_PER_MESSAGE - 5
# Room kept for the "…and N more" line under the rows.
_MORE_RESERVE_CHARS = 40
# The mentions `--notify` stores; only these are ever written as live mentions, anything else is escaped.
_MENTION = re.compile(r"^<(?:@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+)>$")


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


def mention_list(notify: Sequence[str]) -> str:
    """``<@U0BOB>, <!subteam^S0ONCALL>``: live mentions, which show as names and notify whoever they name
    in a message the channel sees; for replies only the asker sees, or for alerts meant to wake them."""
    return ", ".join(mention if _MENTION.match(mention) else code(mention) for mention in notify)


def count_mentions(notify: Sequence[str]) -> str:
    """``1 person and 2 user groups``: who is mentioned, counted, for a message that must notify no one."""
    people = sum(1 for mention in notify if mention.startswith("<@"))
    groups = len(notify) - people
    parts = [f"{people} {'person' if people == 1 else 'people'}" if people else ""]
    parts.append(plural(groups, "user group") if groups else "")
    return " and ".join(part for part in parts if part)


def _owners(subscription: Subscription, *, live: bool) -> str:
    """The sentence on who problem alerts mention; empty when no one."""
    if not subscription.notify:
        return ""
    who = mention_list(subscription.notify) if live else count_mentions(subscription.notify)
    return f" Problems and their recoveries mention {who}."


def render_watch_result(subscription: Subscription, outcome: SubscribeOutcome, user_id: str) -> Message:
    """The reply to `watch`: visible in the channel when something changed, to the asker alone otherwise.

    Who problem alerts mention is named in the asker's own reply, and counted in the channel's: a mention
    in a channel message notifies, and a watch being set up is no reason to wake anyone.
    """
    target = describe_target(subscription)
    options = describe_options(subscription)
    if outcome is SubscribeOutcome.UNCHANGED:
        owners = _owners(subscription, live=True)
        text = f"This channel already watches {target}: {options}.{owners} Nothing changed."
    elif outcome is SubscribeOutcome.RESUMED:
        text = f"<@{user_id}> resumed alerts here for {target}: {options}.{_owners(subscription, live=False)}"
    elif outcome is SubscribeOutcome.UPDATED:
        owners = _owners(subscription, live=False) or " No one is mentioned."
        text = f"<@{user_id}> changed alerts here for {target}: now {options}.{owners}"
    else:
        text = (
            f"👀 <@{user_id}> is watching {target} in this channel: {options}."
            f"{_owners(subscription, live=False)} `/inference unwatch` stops it."
        )
    return Message(text=text, blocks=[section(text)])


def render_owners_note(subscription: Subscription) -> Message:
    """To the asker alone, after a channel reply that only counted them: who problem alerts mention."""
    text = (
        f"Problems and their recoveries of {describe_target(subscription)} will mention "
        f"{mention_list(subscription.notify)}. Only you see this note, so it notified no one."
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


def watch_replies(
    subscription: Subscription, outcome: SubscribeOutcome, user_id: str
) -> list[dict[str, Any]]:
    """``respond`` arguments for a watch, in order: in the channel when something changed, to the asker
    otherwise; after a channel reply, the asker alone hears by name who problem alerts mention."""
    reply = render_watch_result(subscription, outcome, user_id)
    if outcome is SubscribeOutcome.UNCHANGED:
        return [{**reply.as_kwargs(), "response_type": "ephemeral", "replace_original": False}]
    replies = [{**reply.as_kwargs(), "response_type": "in_channel", "replace_original": False}]
    if subscription.notify:
        note = render_owners_note(subscription)
        replies.append({**note.as_kwargs(), "response_type": "ephemeral", "replace_original": False})
    return replies


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
    """The channel's subscriptions, each with an Unwatch button; paused ones say why, in words.

    Who each one notifies is written as live mentions, which Slack shows as names: this listing is only
    ever sent to the asker alone (`watching` answers ephemeral, and its Unwatch buttons replace that same
    ephemeral message), and a mention in a message only its asker sees notifies no one. Were it ever
    posted in the channel, it would have to use ``count_mentions`` instead, as the `watch` reply does.
    """
    if not subscriptions:
        text = "This channel watches nothing yet. `/inference watch my-instance` or `/inference watch --all` start."
        return Message(text=text, blocks=[section(text)])
    blocks: list[Block] = [header("Watched in this channel")]
    room = MESSAGE_BLOCKS_TEXT_BUDGET - blocks_text_length(blocks) - _MORE_RESERVE_CHARS
    for subscription in subscriptions[:WATCHING_ROWS_SHOWN]:
        row = _watching_row(subscription)
        room -= blocks_text_length([row])
        if room < 0:
            break
        blocks.append(row)
    shown = len(blocks) - 1
    if len(subscriptions) > shown:
        blocks.append(context(f"…and {len(subscriptions) - shown} more"))
    return Message(text=f"This channel has {plural(len(subscriptions), 'subscription')}", blocks=blocks)


def _watching_row(subscription: Subscription) -> Block:
    line = f"*{describe_target(subscription)}*\n{describe_options(subscription)}"
    if subscription.notify:
        line += f"\nnotifies {mention_list(subscription.notify)} of problems and their recoveries"
    if subscription.muted:
        muted = ", ".join(code(name) for name in subscription.muted)
        line += f"\nmuted here: {muted} (`/inference watch <name>` hears one again)"
    if subscription.paused_reason:
        line = f"⏸️ {line}\n_paused: {pause_why(subscription.paused_reason)}; run the same `watch` to resume_"
    ref = SubscriptionRef(id=subscription.id).model_dump_json()
    unwatch = button(
        "Unwatch",
        ActionId.UNWATCH_SUBSCRIPTION,
        value=ref,
        confirm=unwatch_confirmation(
            None if subscription.watches_all else subscription.target, subscription.project_id
        ),
    )
    return section(line, unwatch)
