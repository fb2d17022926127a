"""A refusal shown where no message can carry it: in a modal, for a view submission or a Home tab click,
and in the Home tab itself for someone it may not show."""

from __future__ import annotations

from typing import Any

from formatters.blocks import plain_text, section
from formatters.limits import MAX_VIEW_TITLE


def render_refusal_modal(user_message: str) -> dict[str, Any]:
    """A modal saying why the request was refused; ``user_message`` is already safe mrkdwn."""
    return {
        "type": "modal",
        "title": plain_text("Not allowed", MAX_VIEW_TITLE),
        "close": plain_text("Close", MAX_VIEW_TITLE),
        "blocks": [section(f"⚠️ {user_message}")],
    }


def render_refusal_home(user_message: str) -> dict[str, Any]:
    """The Home tab of someone it may not show anything to, saying why."""
    return {"type": "home", "blocks": [section(f"⚠️ {user_message}")]}
