"""Short replies: errors a person can act on, and confirmations."""

from __future__ import annotations

from formatters.blocks import Message, section


def render_error(user_message: str) -> Message:
    """One clear sentence about what went wrong; ``user_message`` is already safe mrkdwn."""
    return Message(text=user_message, blocks=[section(f"⚠️ {user_message}")])


def render_unexpected_error(error_id: str) -> Message:
    """What a person sees for a bug: no traceback, just an id to quote when reporting it."""
    text = f"Something went wrong on the bot's side. If it happens again, tell whoever runs the bot: error `{error_id}`."
    return Message(text=text, blocks=[section(f"⚠️ {text}")])
