"""Errors a person in Slack can act on.

Every error a user can cause, or should hear about, is a ``UserFacingError``. It carries what happened as
data (which deployment, which status code, which option); ``formatters.errors`` words it as one sentence.
Any other exception is a bug: it is logged with a short id, and only that id reaches Slack.
"""

from __future__ import annotations

from enum import StrEnum


class UserFacingError(Exception):
    """An error worth telling the person who caused it."""


class ArgumentProblem(StrEnum):
    """What is wrong with the words of a command, or with a button."""

    NOT_A_PROJECT = "not_a_project"
    NEEDS_VALUE = "needs_value"
    UNKNOWN_OPTION = "unknown_option"
    WHICH_PROJECT = "which_project"
    WHICH_DEPLOYMENT = "which_deployment"
    ONE_DEPLOYMENT = "one_deployment"
    NAME_LENGTH = "name_length"
    NAME_CHARACTERS = "name_characters"
    NAME_AND_ALL = "name_and_all"
    ONLY_VALUE = "only_value"
    NOT_A_MENTION = "not_a_mention"
    BROADCAST_MENTION = "broadcast_mention"
    NOTIFY_NONE_ALONE = "notify_none_alone"
    TOO_MANY_MENTIONS = "too_many_mentions"
    STALE_BUTTON = "stale_button"
    LINES_VALUE = "lines_value"
    UNKNOWN_REGION = "unknown_region"


class BadArgument(UserFacingError):
    """The command's words do not make sense: ``problem`` says what, ``value`` the word at fault, ``verb``
    the subcommand whose usage helps, ``choices`` the values that would have done."""

    def __init__(
        self, problem: ArgumentProblem, *, value: str = "", verb: str = "", choices: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{problem}: {value!r}" if value else str(problem))
        self.problem, self.value, self.verb, self.choices = problem, value, verb, choices


class ChannelProblem(StrEnum):
    """Why the bot cannot take on alerts in a channel."""

    INVITE_NEEDED = "invite_needed"
    ARCHIVED = "archived"


class ChannelNotPostable(UserFacingError):
    """The bot cannot post in the channel; ``problem`` says why."""

    def __init__(self, problem: ChannelProblem) -> None:
        super().__init__(problem)
        self.problem = problem


class DatabaseUnavailable(UserFacingError):
    """The bot's database does not answer: a connection refused, reset or lost. ``cause`` is the driver's
    error class, for logs; the store logs the first of an outage, so callers need not log it again."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"the database does not answer ({cause})")
        self.cause = cause
