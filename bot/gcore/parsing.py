"""Reading Gcore's answers: a whole answer into a model, and a listing's items one by one, so one odd item
does not hide the rest. Nothing here logs a value: an item's fields are not ours to log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bot.gcore.errors import GcoreInvalidResponse

ModelT = TypeVar("ModelT", bound=BaseModel)


class RawPage(BaseModel):
    """A page of a listing (``{count, results}``) whose items are read one by one."""

    count: int
    results: list[Any]


@dataclass(frozen=True)
class UnreadableItem:
    """An item of a listing that does not parse: its name when that much is readable, and why."""

    position: int
    name: str | None
    cause: str


def parse(response: httpx.Response, model: type[ModelT]) -> ModelT:
    """The whole answer as ``model``; ``GcoreInvalidResponse`` when it is not a success or does not parse."""
    if not response.is_success:
        raise GcoreInvalidResponse(f"HTTP {response.status_code}")
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise GcoreInvalidResponse(f"{model.__name__}: {exc.error_count()} validation errors") from None


def parse_items(
    raw: list[Any], model: type[ModelT], first_position: int = 0
) -> tuple[list[ModelT], list[UnreadableItem]]:
    """A page's items that parse, and those that do not (numbered from ``first_position``)."""
    items: list[ModelT] = []
    unreadable: list[UnreadableItem] = []
    for position, item in enumerate(raw, start=first_position):
        try:
            items.append(model.model_validate(item))
        except ValidationError as exc:
            name = item.get("name") if isinstance(item, dict) else None
            unreadable.append(
                UnreadableItem(position, name if isinstance(name, str) else None, validation_cause(exc))
            )
    return items, unreadable


def validation_cause(exc: ValidationError) -> str:
    """Where and what kind of error, never the value."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "item"
    return f"{where}: {first['type']}"
