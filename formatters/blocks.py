"""Block Kit element builders that hold every documented limit, and the message they make up."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from formatters.limits import (
    MAX_BUTTON_TEXT,
    MAX_BUTTON_URL,
    MAX_CONFIRM_BUTTON,
    MAX_CONFIRM_TEXT,
    MAX_CONFIRM_TITLE,
    MAX_CONTEXT_ELEMENTS,
    MAX_FIELD_TEXT,
    MAX_HEADER_TEXT,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_FIELDS,
    MAX_SECTION_TEXT,
)
from formatters.text import truncate

Block = dict[str, Any]


@dataclass(frozen=True)
class Message:
    """A Slack message: Block Kit blocks plus the plain fallback ``text`` for notifications and screen readers."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", truncate(self.text, MAX_MESSAGE_TEXT))

    def as_kwargs(self) -> dict[str, Any]:
        """The ``text`` and ``blocks`` arguments of chat.postMessage, chat.update or a response_url post."""
        return {"text": self.text, "blocks": self.blocks}


def mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    """A mrkdwn text object cut to ``limit``; the caller has escaped anything untrusted."""
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def plain_text(text: str, limit: int) -> dict[str, Any]:
    """A plain_text text object cut to ``limit``."""
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def header(text: str) -> Block:
    """A header block."""
    return {"type": "header", "text": plain_text(text, MAX_HEADER_TEXT)}


def section(text: str, accessory: dict[str, Any] | None = None) -> Block:
    """A section of mrkdwn text, optionally with an accessory element."""
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def fields_section(fields: Iterable[str]) -> Block:
    """A section of two-column mrkdwn fields; more than Slack takes are dropped by the caller's design."""
    items = [mrkdwn(text, MAX_FIELD_TEXT) for text in fields]
    if len(items) > MAX_SECTION_FIELDS:
        raise ValueError(f"a section takes at most {MAX_SECTION_FIELDS} fields, got {len(items)}")
    return {"type": "section", "fields": items}


def context(*texts: str) -> Block:
    """A context block of mrkdwn elements."""
    if len(texts) > MAX_CONTEXT_ELEMENTS:
        raise ValueError(f"a context block takes at most {MAX_CONTEXT_ELEMENTS} elements")
    return {"type": "context", "elements": [mrkdwn(text) for text in texts]}


def divider() -> Block:
    """A divider block."""
    return {"type": "divider"}


def button(
    text: str,
    action_id: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A button element; ``value`` must already fit (it is data, cutting it would corrupt it)."""
    element: dict[str, Any] = {
        "type": "button",
        "text": plain_text(text, MAX_BUTTON_TEXT),
        "action_id": action_id,
    }
    if confirm is not None:
        element["confirm"] = confirm
    if value is not None:
        element["value"] = value
    if url is not None and len(url) <= MAX_BUTTON_URL:
        element["url"] = url
    if style is not None:
        element["style"] = style
    return element


def confirmation(title: str, text: str, confirm: str, deny: str = "Cancel") -> dict[str, Any]:
    """A confirmation dialog for a button that ends something: Slack styles its confirm button red."""
    return {
        "title": plain_text(title, MAX_CONFIRM_TITLE),
        "text": mrkdwn(text, MAX_CONFIRM_TEXT),
        "confirm": plain_text(confirm, MAX_CONFIRM_BUTTON),
        "deny": plain_text(deny, MAX_CONFIRM_BUTTON),
        "style": "danger",
    }


def actions(block_id: str, *elements: dict[str, Any]) -> Block:
    """An actions block."""
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from _texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item)


def blocks_text_length(blocks: list[Block]) -> int:
    """All text in ``blocks`` together: what Slack's undocumented msg_blocks_too_long limit counts."""
    return sum(len(text) for text in _texts(blocks))
