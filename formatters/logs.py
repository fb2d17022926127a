"""A deployment's log lines as people read them: in a code block, oldest first, one entry a line.

Log lines are the least trusted text the bot shows: anything a model server prints. Each is flattened to one
line (control and invisible characters out), cut to ``LOG_LINE_CHARS``, stripped of backticks (which could
close the block) and escaped: Slack parses ``<!channel>`` and ``<@U…>`` even inside a code block, so no
line can mention, link or break out. Past a message's room the oldest lines go first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC

from bot.gcore.models import LogEntry
from bot.masking import mask_secrets
from bot.watch.transitions import Transition
from formatters.blocks import Block, Message, context, section
from formatters.limits import MAX_SECTION_TEXT, MESSAGE_BLOCKS_TEXT_BUDGET
from formatters.regions import NO_REGION_NAMES, region_label
from formatters.text import escape_mrkdwn, parse_timestamp, plural, truncate

LOG_LINE_CHARS = 160
LOG_POD_CHARS = 40
# A section's room for lines, less the heading and the fences around them.
LOG_SECTION_BUDGET = MAX_SECTION_TEXT - 300
# The room for lines in a message of logs alone (several sections), less a margin for the rest of it.
LOG_MESSAGE_BUDGET = MESSAGE_BLOCKS_TEXT_BUDGET - 1000
_FENCE = "```"
# Control characters (newlines and tabs included), zero-width and bidirectional marks: none belongs in a
# one-line view, and the invisible ones could make a line read as something it is not.
_UNSEEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+")


def log_line(entry: LogEntry, *, with_pod: bool = False) -> str:
    """One entry as one escaped line: its time in UTC, its pod when asked, its message."""
    moment = parse_timestamp(entry.time)
    parts = [moment.astimezone(UTC).strftime("%H:%M:%S")] if moment else []
    if with_pod and entry.pod:
        parts.append(f"[{truncate(entry.pod, LOG_POD_CHARS)}]")
    parts.append(mask_secrets(entry.message))
    flat = _UNSEEN.sub(" ", " ".join(parts)).replace("`", "'").rstrip()
    return escape_mrkdwn(truncate(flat, LOG_LINE_CHARS))


def _lines(newest_first: Sequence[LogEntry], budget: int) -> list[str]:
    """As many of the newest entries as ``budget`` characters hold, oldest first."""
    with_pod = len({entry.pod for entry in newest_first}) > 1
    kept: list[str] = []
    used = 0
    for entry in newest_first:
        line = log_line(entry, with_pod=with_pod)
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    return kept[::-1]


def _block(lines: Sequence[str]) -> str:
    return f"{_FENCE}\n" + "\n".join(lines) + f"\n{_FENCE}"


def _where(entries: Sequence[LogEntry], regions: Mapping[int, str]) -> str:
    """`` from Amsterdam`` (or `` from region 100``) when every entry is of one region."""
    found = {entry.region_id for entry in entries}
    only = found.pop() if len(found) == 1 else None
    return f" from {region_label(only, regions, lower=True)}" if only is not None else ""


def log_section(
    newest_first: Sequence[LogEntry], regions: Mapping[int, str] = NO_REGION_NAMES
) -> Block | None:
    """An alert's log lines under a heading, in one section; None when there are none."""
    lines = _lines(newest_first, LOG_SECTION_BUDGET)
    if not lines:
        return None
    where = _where(newest_first, regions)
    heading = f"📜 *Last {plural(len(lines), 'log line')}*{where}, oldest first, times in UTC:"
    return section(f"{heading}\n{_block(lines)}")


def render_alert_logs(
    t: Transition, newest_first: Sequence[LogEntry], regions: Mapping[int, str] = NO_REGION_NAMES
) -> Message | None:
    """The reply under an episode's first message when that step woke people: the log lines alone, as the
    message itself is a timeline edited as the episode goes. None when there are no lines."""
    block = log_section(newest_first, regions)
    if block is None:
        return None
    facts = f"Project {t.project_id} · the newest lines as the alert above went out"
    text = f"Last log lines of {escape_mrkdwn(t.name)} (project {t.project_id})"
    return Message(text=text, blocks=[block, context(facts)])


def render_logs(
    project_id: int, name: str, newest_first: Sequence[LogEntry], regions: Mapping[int, str] = NO_REGION_NAMES
) -> Message:
    """The Logs button's answer, for the clicker alone: the newest lines that fit in one message."""
    title = f"*{escape_mrkdwn(name)}*"
    if not newest_first:
        text = f"📜 Gcore has no log lines of {title} to show."
        return Message(text=text.replace("*", ""), blocks=[section(text), context(f"Project {project_id}")])
    lines = _lines(newest_first, LOG_MESSAGE_BUDGET)
    headline = (
        f"📜 {title}: the last {plural(len(lines), 'log line')}{_where(newest_first, regions)}, oldest first, "
        "times in UTC"
    )
    blocks: list[Block] = [section(headline)]
    chunk: list[str] = []
    for line in lines:
        if chunk and len(_block([*chunk, line])) > LOG_SECTION_BUDGET:
            blocks.append(section(_block(chunk)))
            chunk = []
        chunk.append(line)
    blocks.append(section(_block(chunk)))
    facts = [f"Project {project_id}"]
    pods = {entry.pod for entry in newest_first}
    if len(pods) == 1 and (pod := pods.pop()):
        # Lines name their pod only when there are several; one pod is named here instead.
        facts.append(f"pod {escape_mrkdwn(truncate(pod, LOG_POD_CHARS))}")
    if len(lines) < len(newest_first):
        facts.append(f"{plural(len(newest_first) - len(lines), 'older line')} did not fit in one message")
    blocks.append(context(" · ".join(facts)))
    return Message(text=headline.replace("*", ""), blocks=blocks)
