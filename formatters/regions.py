"""Regions in words: Gcore's name for a region where the bot knows it, its id where it does not."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from formatters.text import escape_mrkdwn, truncate

# No names known: every region shows as "Region <id>".
NO_REGION_NAMES: Mapping[int, str] = MappingProxyType({})
REGION_NAME_CHARS = 60


def region_label(region_id: int, names: Mapping[int, str] = NO_REGION_NAMES, *, lower: bool = False) -> str:
    """``Amsterdam`` (escaped, as Gcore names it), else ``Region 100`` (``region 100`` when ``lower``, for
    the middle of a sentence)."""
    name = names.get(region_id, "").strip()
    if name:
        return escape_mrkdwn(truncate(name, REGION_NAME_CHARS))
    return f"{'region' if lower else 'Region'} {region_id}"


def region_labels(region_ids: Iterable[int], names: Mapping[int, str], *, most: int) -> str:
    """Several regions' labels in alphabetical order, the first ``most`` of them and ``…`` with how many more."""
    labels = sorted((region_label(rid, names) for rid in region_ids), key=str.casefold)
    if len(labels) <= most:
        return ", ".join(labels)
    return ", ".join(labels[:most]) + f", … {len(labels) - most} more"
