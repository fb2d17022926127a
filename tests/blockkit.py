"""An independent check of Slack's Block Kit and message limits, for asserting on any message a test sees.

The numbers are Slack's, written out again here on purpose: a test must not trust the constants it checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


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


def _check_element(element: dict[str, Any], problems: list[str], where: str) -> None:
    if element.get("type") == "button":
        if len(element["text"]["text"]) > 75:
            problems.append(f"{where}: button text over 75")
        if len(element.get("value", "")) > 2000:
            problems.append(f"{where}: button value over 2000")
        if len(element.get("url", "")) > 3000:
            problems.append(f"{where}: button url over 3000")
    if len(element.get("action_id", "")) > 255:
        problems.append(f"{where}: action_id over 255")


def limit_problems(
    blocks: list[dict[str, Any]], text: str | None = None, *, max_blocks: int = 50
) -> list[str]:
    """Every Block Kit limit ``blocks`` (and the fallback ``text``) break; empty when the message is valid."""
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"{len(blocks)} blocks, over {max_blocks}")
    if max_blocks == 50 and sum(len(t) for t in _texts(blocks)) > 12_000:
        problems.append("blocks text over 12,000 (msg_blocks_too_long)")
    if text is not None and len(text) > 4000:
        problems.append("text over 4,000 (msg_too_long)")
    action_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"block {i} ({block['type']})"
        if len(block.get("block_id", "")) > 255:
            problems.append(f"{where}: block_id over 255")
        if block["type"] == "header" and len(block["text"]["text"]) > 150:
            problems.append(f"{where}: header over 150")
        if block["type"] == "section":
            if "text" in block and len(block["text"]["text"]) > 3000:
                problems.append(f"{where}: section text over 3000")
            fields = block.get("fields", [])
            if len(fields) > 10:
                problems.append(f"{where}: {len(fields)} fields")
            if any(len(f["text"]) > 2000 for f in fields):
                problems.append(f"{where}: a field over 2000")
            if "text" not in block and not fields:
                problems.append(f"{where}: section with neither text nor fields")
            if "accessory" in block:
                _check_element(block["accessory"], problems, where)
        if block["type"] == "context" and len(block["elements"]) > 10:
            problems.append(f"{where}: context over 10 elements")
        if block["type"] == "actions":
            if len(block["elements"]) > 25:
                problems.append(f"{where}: actions over 25 elements")
            for element in block["elements"]:
                _check_element(element, problems, where)
                if element["action_id"] in action_ids:
                    problems.append(f"{where}: duplicate action_id {element['action_id']}")
                action_ids.add(element["action_id"])
    return problems


def all_text(blocks: list[dict[str, Any]]) -> str:
    """Every text in the blocks, joined: what a reader could see."""
    return "\n".join(_texts(blocks))
