"""Why a channel's alerts are paused, in words, and what to do about it: the one table of pause reasons,
read by the `watching` list and by the direct message to whoever made the subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

from formatters.errors import COMMAND
from formatters.text import code, seconds

INVITE_BOT = "`/invite @inference` (or the name your workspace gave the app)"


@dataclass(frozen=True)
class PauseWords:
    """What happened (``why``), and what a person can do (``advice``, where ``{within}`` is the recheck
    period, as in "within the hour")."""

    why: str
    advice: str


# Reasons as `bot.watch.pauses` records them: Slack's error codes, and what conversations.info shows.
PAUSE_REASONS: dict[str, PauseWords] = {
    "is_archived": PauseWords(
        "the channel was archived",
        f"An archived channel can't run `{COMMAND} watch`: unarchive it and I'll resume them by myself "
        "{within}, or watch from another channel.",
    ),
    "not_in_channel": PauseWords(
        "I was removed from the channel",
        f"Invite me back there with {INVITE_BOT} and I'll resume them by myself {{within}}, "
        f"or run `{COMMAND} watch` there to resume them at once.",
    ),
    "channel_not_found": PauseWords(
        "the channel no longer exists or I can't see it",
        f"Watch from another channel with `{COMMAND} watch`; if it is a private channel that still exists, "
        f"invite me back there with {INVITE_BOT} and I'll resume them by myself {{within}}.",
    ),
}
# Any other reason: shown as it came (escaped), with the advice that holds whatever it means.
OTHER_ADVICE = (
    "I'll check every {every} and resume them by myself once I can post there; "
    f"`{COMMAND} watch` there resumes them at once, and `{COMMAND} watching` lists them."
)


def pause_why(reason: str) -> str:
    """Why the channel is paused, in words; an unknown reason as inline code, escaped."""
    words = PAUSE_REASONS.get(reason)
    return words.why if words else code(reason)


def pause_advice(reason: str, recheck_seconds: int) -> str:
    """What to do about a pause, given how often paused channels are checked again."""
    hourly = recheck_seconds == 3600
    within = "within the hour" if hourly else f"within {seconds(recheck_seconds)}"
    every = "hour" if hourly else seconds(recheck_seconds)
    words = PAUSE_REASONS.get(reason)
    return words.advice.format(within=within) if words else OTHER_ADVICE.format(every=every)
