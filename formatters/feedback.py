"""Short replies: errors a person can act on, and confirmations."""

from __future__ import annotations

from typing import Any

from formatters.blocks import Message, plain_text, section
from formatters.limits import MAX_VIEW_TITLE


def render_error(user_message: str) -> Message:
    """One clear sentence about what went wrong; ``user_message`` is already safe mrkdwn."""
    return Message(text=user_message, blocks=[section(f"⚠️ {user_message}")])


def render_unexpected_error(error_id: str) -> Message:
    """What a person sees for a bug: no traceback, just an id to quote when reporting it."""
    text = f"Something went wrong on the bot's side. If it happens again, tell whoever runs the bot: error `{error_id}`."
    return Message(text=text, blocks=[section(f"⚠️ {text}")])


def render_error_view(user_message: str) -> dict[str, Any]:
    """A modal that says what went wrong, for failures that happen after a modal opened."""
    return {
        "type": "modal",
        "title": plain_text("Deployment details", MAX_VIEW_TITLE),
        "close": plain_text("Close", MAX_VIEW_TITLE),
        "blocks": [section(f"⚠️ {user_message}")],
    }
