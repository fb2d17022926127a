"""A deployment's containers, one per region, in words.

The card puts what needs attention first (container errors, regions short of replicas) and gathers the
rest: regions in the same state with identical settings share one line, so forty healthy regions read as
one. The details modal lists every region on a line of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from bot.gcore.models import Container, DeploymentStatus, Scale, ScaleTriggers
from formatters.blocks import Block, context, section
from formatters.limits import MAX_SECTION_TEXT
from formatters.regions import region_label, region_labels
from formatters.text import escape_mrkdwn, plural, progress_bar, seconds, truncate

# The card's region lines, "…and N more" included; the details modal has every region.
CARD_REGION_LINES = 6
CARD_NAMES_PER_LINE = 5
CARD_ERROR_CHARS = 300
CARD_LINE_CHARS = 450
MODAL_ERROR_CHARS = 300


class RegionHealth(IntEnum):
    """How a region stands, most urgent first."""

    ERROR = 0
    BELOW_MINIMUM = 1
    SHORT = 2
    HEALTHY = 3
    IDLE = 4


def region_health(container: Container) -> RegionHealth:
    """A container error; fewer ready than its minimum; fewer ready than wanted; all wanted ready; or none
    wanted (scaled to zero, stopped)."""
    ready, total = container.deploy_status.ready, container.deploy_status.total
    if container.error_message:
        return RegionHealth.ERROR
    if ready < total:
        return RegionHealth.BELOW_MINIMUM if ready < container.scale.min else RegionHealth.SHORT
    return RegionHealth.HEALTHY if total > 0 else RegionHealth.IDLE


def needs_attention(container: Container) -> bool:
    """Whether the card lists the region among what needs attention."""
    return region_health(container) < RegionHealth.HEALTHY


def triggers_text(triggers: ScaleTriggers) -> str:
    """What scales the region up: ``CPU ≥ 80%, HTTP ≥ 10 req per 30 s``; empty when nothing does."""
    parts = []
    if triggers.cpu:
        parts.append(f"CPU ≥ {triggers.cpu.threshold}%")
    if triggers.memory:
        parts.append(f"memory ≥ {triggers.memory.threshold}%")
    if triggers.gpu_utilization:
        parts.append(f"GPU util ≥ {triggers.gpu_utilization.threshold}%")
    if triggers.gpu_memory:
        parts.append(f"GPU memory ≥ {triggers.gpu_memory.threshold}%")
    if triggers.http:
        parts.append(f"HTTP ≥ {triggers.http.rate} req per {seconds(triggers.http.window)}")
    if triggers.sqs:
        length = triggers.sqs.queue_length
        parts.append(f"SQS queue ≥ {length}" if length is not None else "SQS queue")
    return ", ".join(parts)


def scale_text(scale: Scale) -> str:
    """A region's scaling settings: ``1–3 replicas · cooldown 1 min · on CPU ≥ 80%`` (``2 replicas`` when
    it does not scale)."""
    parts = [plural(scale.min, "replica") if scale.min == scale.max else f"{scale.min}–{scale.max} replicas"]
    if scale.cooldown_period is not None:
        parts.append(f"cooldown {seconds(scale.cooldown_period)}")
    triggers = triggers_text(scale.triggers)
    if triggers:
        parts.append("on " + triggers)
    return " · ".join(parts)


@dataclass
class _Group:
    """Regions that read the same on the card: one state and identical settings (or the same error)."""

    health: RegionHealth
    detail: str
    minimum: int
    containers: list[Container] = field(default_factory=list)

    def line(self, names: Mapping[int, str], idle_words: str) -> str:
        ready = sum(c.deploy_status.ready for c in self.containers)
        total = sum(c.deploy_status.total for c in self.containers)
        count = len(self.containers)
        one = count == 1
        emoji, many, single = {
            RegionHealth.ERROR: ("⚠️", "", ""),
            RegionHealth.BELOW_MINIMUM: ("🟠", " below their minimum", ""),
            RegionHealth.SHORT: ("🟡", "", ""),
            RegionHealth.HEALTHY: ("✅", " healthy", " healthy"),
            RegionHealth.IDLE: (
                "💤" if idle_words == "at zero" else "⚪",
                f" {idle_words}",
                f" {idle_words}",
            ),
        }[self.health]
        ids = [c.region_id for c in self.containers]
        if one:
            who = f"*{region_label(ids[0], names)}*{single}"
        else:
            who = f"*{count} regions{many}:* {region_labels(ids, names, most=CARD_NAMES_PER_LINE)}"
        counted = f"{ready}/{total} ready"
        if self.health is RegionHealth.BELOW_MINIMUM and one:
            counted += f", below its minimum of {self.minimum}"
        parts = [f"{emoji} {who}"]
        if self.health is not RegionHealth.IDLE:
            parts.append(counted)
        parts.append(self.detail)
        return truncate(" · ".join(parts), CARD_LINE_CHARS)


def _groups(containers: Iterable[Container]) -> list[_Group]:
    groups: dict[tuple[RegionHealth, str], _Group] = {}
    for container in containers:
        health = region_health(container)
        if health is RegionHealth.ERROR:
            detail = escape_mrkdwn(truncate((container.error_message or "").strip(), CARD_ERROR_CHARS))
        else:
            detail = scale_text(container.scale)
        key = (health, detail)
        if key not in groups:
            groups[key] = _Group(health, detail, container.scale.min)
        groups[key].containers.append(container)
    # Most urgent first; among equals, the most regions first (stable, so the API's order breaks ties).
    return sorted(groups.values(), key=lambda g: (g.health, -len(g.containers)))


def region_summary(containers: list[Container], names: Mapping[int, str], state: DeploymentStatus) -> str:
    """The card's regions: what needs attention, then the rest gathered, in at most ``CARD_REGION_LINES``
    lines, below a title with the count when they take more than one line."""
    if not containers:
        return "*Regions* · _none yet_"
    idle_words = "stopped" if state is DeploymentStatus.DISABLED else "at zero"
    groups = _groups(containers)
    lines = [group.line(names, idle_words) for group in groups]
    if len(lines) > CARD_REGION_LINES:
        kept = lines[: CARD_REGION_LINES - 1]
        hidden = sum(len(g.containers) for g in groups[CARD_REGION_LINES - 1 :])
        lines = [*kept, f"…and {plural(hidden, 'more region')} in *View details*"]
    if len(groups) > 1:  # one group's line already says how many regions
        attention = sum(1 for c in containers if needs_attention(c))
        title = f"*{len(containers)} regions*" + (f" · {attention} need attention" if attention else "")
        lines.insert(0, title)
    return "\n".join(lines)


def container_line(container: Container, names: Mapping[int, str], *, with_error: bool = False) -> str:
    """One container (one region) on one line: readiness bar, scaling settings, and its error."""
    ready, total = container.deploy_status.ready, container.deploy_status.total
    label = region_label(container.region_id, names)
    line = f"*{label}*  `{progress_bar(ready, total)}` {ready}/{total} ready · {scale_text(container.scale)}"
    if with_error and container.error_message:
        line += "\n   ⚠️ " + escape_mrkdwn(truncate(container.error_message, MODAL_ERROR_CHARS))
    return line


def container_sections(
    containers: list[Container], names: Mapping[int, str], *, max_chars: int, max_blocks: int
) -> list[Block]:
    """Every container on a line, with its error, packed into as few sections as fit; cut with a visible
    count when over budget."""
    title = f"*Regions* · {len(containers)}"
    if not containers:
        return [section(title + "\n_none yet_")]
    chunks: list[str] = [title]
    used = len(title)
    shown = 0
    for container in containers:
        line = container_line(container, names, with_error=True)
        over_budget = used + len(line) + 1 > max_chars
        new_block = len(chunks[-1]) + len(line) + 1 > MAX_SECTION_TEXT
        if over_budget or (new_block and len(chunks) + 1 > max_blocks - 1):
            break
        if new_block:
            chunks.append(line)
        else:
            chunks[-1] += "\n" + line
        used += len(line) + 1
        shown += 1
    blocks = [section(chunk) for chunk in chunks]
    if shown < len(containers):
        blocks.append(context(f"…and {plural(len(containers) - shown, 'more region')} not shown here"))
    return blocks
