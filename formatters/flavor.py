"""Flavor names spelled out for a person: ``inference-16vcpu-232gib-1xh100-80gb`` → ``16 vCPU · 232 GiB · 1× H100 80 GB``."""

from __future__ import annotations

import re

_CPU = re.compile(r"^(\d+)vcpu$")
_MEMORY = re.compile(r"^(\d+)gib$")
_GPU_COUNT_MODEL = re.compile(r"^(\d+)x([a-z0-9]+)$")
_GPU_MEMORY = re.compile(r"^(\d+)gb$")


def describe_flavor(flavor_name: str) -> str | None:
    """The flavor's resources in words, or None when the name does not follow Gcore's pattern."""
    parts = flavor_name.lower().split("-")
    if parts and parts[0] == "inference":
        parts = parts[1:]
    described: list[str] = []
    i = 0
    while i < len(parts):
        part = parts[i]
        if m := _CPU.match(part):
            described.append(f"{m.group(1)} vCPU")
        elif m := _MEMORY.match(part):
            described.append(f"{m.group(1)} GiB")
        elif m := _GPU_COUNT_MODEL.match(part):
            gpu = f"{m.group(1)}× {m.group(2).upper()}"
            if i + 1 < len(parts) and (memory := _GPU_MEMORY.match(parts[i + 1])):
                gpu += f" {memory.group(1)} GB"
                i += 1
            described.append(gpu)
        else:
            return None
        i += 1
    return " · ".join(described) or None
