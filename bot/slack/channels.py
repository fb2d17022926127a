"""Making sure the bot can post alerts in a channel before it promises to."""

from __future__ import annotations

from bot.errors import ChannelNotPostable, ChannelProblem
from bot.slack.api import SlackApi
from bot.slack.errors import SlackCallFailed, SlackFailureKind


async def ensure_channel_access(slack: SlackApi, channel_id: str) -> None:
    """Join the channel if it is public; ask to be invited where the bot cannot join by itself."""
    try:
        info = (await slack.call("conversations_info", channel=channel_id))["channel"]
    except SlackCallFailed as failed:
        if failed.failure.kind is SlackFailureKind.CHANNEL_GONE:
            # Private channels the bot is not in look like channels that do not exist.
            raise ChannelNotPostable(ChannelProblem.INVITE_NEEDED) from None
        raise
    if info.get("is_archived"):
        raise ChannelNotPostable(ChannelProblem.ARCHIVED)
    if info.get("is_member") or info.get("is_im"):
        return
    if info.get("is_private") or info.get("is_mpim"):
        raise ChannelNotPostable(ChannelProblem.INVITE_NEEDED)
    try:
        await slack.call("conversations_join", channel=channel_id)
    except SlackCallFailed as failed:
        if failed.failure.kind in (SlackFailureKind.REJECTED, SlackFailureKind.CHANNEL_GONE):
            raise ChannelNotPostable(ChannelProblem.INVITE_NEEDED) from None
        raise
