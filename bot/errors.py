"""Errors a person in Slack can act on.

Every error a user can cause, or should hear about, is a ``UserFacingError``: its ``user_message`` is one
sentence of mrkdwn that says what happened and what to do. The single ``@app.error`` handler shows it; any
other exception is logged with a short id, and only that id reaches Slack.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose ``user_message`` is safe and useful to show in Slack."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class BadArgument(UserFacingError):
    """The command's words do not make sense; the reply says which and how to fix them."""
