"""Why a delivery did not go through this round: the notifier decides from these what to do next."""

from __future__ import annotations

from bot.slack.errors import SlackFailure


class ChannelUnavailable(Exception):
    """The channel cannot receive messages (gone, archived, bot removed)."""

    def __init__(self, failure: SlackFailure) -> None:
        super().__init__(failure.code)
        self.failure = failure


class DeliveryFailed(Exception):
    """A call failed in a way that leaves the delivery for a later round."""

    def __init__(self, failure: SlackFailure) -> None:
        super().__init__(failure.code)
        self.failure = failure


class DeliveryDeferred(Exception):
    """Another process may still be posting this delivery; the channel waits for a later round."""
