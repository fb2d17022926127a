"""Link buttons: a deployment's own address, and the deployment in Gcore's portal (``GCORE_PORTAL_URL``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from bot.actions import ActionId
from formatters.blocks import button
from formatters.limits import MAX_BUTTON_URL


def safe_url(address: str | None) -> str | None:
    """The address when Slack will accept it as a button URL (an invalid one fails the whole message)."""
    if not address or len(address) > MAX_BUTTON_URL or any(ch.isspace() for ch in address):
        return None
    parts = urlsplit(address)
    return address if parts.scheme in ("http", "https") and parts.netloc else None


def portal_link(template: str | None, project_id: int, name: str) -> str | None:
    """The deployment's page in Gcore's portal from the ``GCORE_PORTAL_URL`` template (``{project_id}``,
    ``{name}``, the name URL-quoted); None without a template or when it does not make a usable URL."""
    if not template:
        return None
    try:
        url = template.format(project_id=project_id, name=quote(name, safe=""))
    except (KeyError, IndexError, ValueError, AttributeError):
        return None
    return safe_url(url)


def portal_button(template: str | None, project_id: int, name: str) -> dict[str, Any] | None:
    """The ``Open in Gcore`` link button, or None when there is no link to make."""
    url = portal_link(template, project_id, name)
    return button("Open in Gcore ↗", ActionId.OPEN_PORTAL, url=url) if url else None
