"""What changed in a deployment's spec, in words: ``image `nginx:1.25` → `nginx:1.27` · region Luxembourg-2
added · scale 1–3 → 2–5 · env `API_URL` changed``. Values that may be secret (env values, the command,
probe headers) were never kept: only that they changed is told."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.watch.specs import Change
from formatters.regions import NO_REGION_NAMES, region_label
from formatters.text import code, escape_mrkdwn, plural, truncate

CHANGES_SHOWN = 8
VALUE_CHARS = 80
_FIELDS = {"image": "image", "flavor": "flavor", "port": "port", "command": "command"}


def _value(value: str | None) -> str:
    return code(truncate(value or "", VALUE_CHARS))


def _region(item: str, regions: Mapping[int, str]) -> str:
    return region_label(int(item), regions, lower=True) if item.isdigit() else code(item)


def _scale(value: str | None) -> str:
    return (value or "?").replace("-", "–")


def change_words(change: Change, regions: Mapping[int, str] = NO_REGION_NAMES) -> str:
    """One change: ``image `a` → `b```, ``region Amsterdam added``, ``env `API_URL` changed``."""
    field, how = change.field, change.how
    if field == "region":
        return f"region {_region(change.item, regions)} {how}"
    if field == "env":
        return f"env {code(change.item)} {how}"
    if field == "auth":
        return "auth turned on" if change.new == "on" else "auth turned off"
    if field == "scale":
        return f"scale {_scale(change.old)} → {_scale(change.new)} in {_region(change.item, regions)}"
    if field == "triggers":
        where = _region(change.item, regions)
        return f"triggers in {where} {_value(change.old)} → {_value(change.new)}"
    if field == "probe":
        what = f"{escape_mrkdwn(change.item)} probe"
        if change.old is None or change.new is None:
            return f"{what} {how}"
        return f"{what} {_value(change.old)} → {_value(change.new)}"
    label = _FIELDS.get(field, code(field))
    if change.old is None and change.new is None:
        return f"{label} {how}"  # a value never kept (the command)
    if how == "added":
        return f"{label} {_value(change.new)} set"
    if how == "removed":
        return f"{label} {_value(change.old)} unset"
    return f"{label} {_value(change.old)} → {_value(change.new)}"


def changes_line(changes: Sequence[Change], regions: Mapping[int, str] = NO_REGION_NAMES) -> str:
    """Every change on one line (the first ``CHANGES_SHOWN``, then how many more); empty when none."""
    if not changes:
        return ""
    words = [change_words(change, regions) for change in changes[:CHANGES_SHOWN]]
    if len(changes) > CHANGES_SHOWN:
        words.append(f"{plural(len(changes) - CHANGES_SHOWN, 'more change')}")
    return " · ".join(words)
