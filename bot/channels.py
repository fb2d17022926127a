"""Making sure the bot can post alerts in a channel before it promises to."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import UserFacingError

INVITE_ME = (
    "I can't post in this channel yet: invite me with `/invite @inference` "
    "(or the name your workspace gave the app), then run the command again."
)


async def ensure_channel_access(client: AsyncWebClient, channel_id: str) -> None:
    """Join the channel if it is public; ask to be invited where the bot cannot join by itself."""
    try:
        info = (await client.conversations_info(channel=channel_id))["channel"]
    except SlackApiError:
        # Private channels the bot is not in look like channels that do not exist.
        raise UserFacingError(INVITE_ME) from None
    if info.get("is_archived"):
        raise UserFacingError("This channel is archived; alerts need a channel that is open.")
    if info.get("is_member") or info.get("is_im"):
        return
    if info.get("is_private") or info.get("is_mpim"):
        raise UserFacingError(INVITE_ME)
    try:
        await client.conversations_join(channel=channel_id)
    except SlackApiError:
        raise UserFacingError(INVITE_ME) from None
