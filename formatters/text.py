"""Text helpers shared by every formatter: escaping, masking, Slack date tokens, durations, truncation."""

from __future__ import annotations

import re
from datetime import UTC, datetime

ELLIPSIS = "…"
# Shown instead of a secret value; fixed width, so not even its length leaks.
MASK = "••••••"

# Slack may turn these into mentions in mrkdwn even without angle brackets; a zero-width joiner after the
# "@" keeps them readable and inert.
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_ZERO_WIDTH_JOINER = "\u2060"
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")


def defuse_mentions(text: str) -> str:
    """Keep ``@channel``, ``@here`` and ``@everyone`` in API text from notifying anyone."""
    return _BROADCAST.sub(lambda m: "@" + _ZERO_WIDTH_JOINER + m.group(1), text)


def escape_mrkdwn(text: str) -> str:
    """Escape an untrusted string for a mrkdwn field, so it cannot mention, link or format."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return defuse_mentions(escaped)


def user_mention(user_id: str) -> str:
    """A live mention of the Slack user ``user_id`` (as Slack sent it in a request); anything else is shown
    escaped, so no string from an API can become a mention."""
    if _SLACK_USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return escape_mrkdwn(user_id)


def plain(text: str) -> str:
    """Prepare an untrusted string for a plain_text field (no markup, but broadcasts still defused)."""
    return defuse_mentions(text)


def code(text: str) -> str:
    """An untrusted string shown as inline code (escaped, backticks removed so it cannot close the span)."""
    return "`" + escape_mrkdwn(text.replace("`", "'")) + "`"


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    # Do not leave half an entity such as "&am" behind.
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:] and len(cut) - amp < 6:
        cut = cut[:amp]
    return cut + ELLIPSIS


def parse_timestamp(value: str | None) -> datetime | None:
    """Parse an ISO 8601 timestamp from the API; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def slack_date(moment: datetime, token_format: str = "{date_short_pretty} at {time}") -> str:
    """A Slack date token, shown in each reader's own time zone, with a UTC fallback for old clients."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{token_format}|{fallback}>"


def seconds(value: int) -> str:
    """A duration in seconds for a person: ``90`` → ``1 min 30 s``."""
    if value < 60:
        return f"{value} s"
    minutes, secs = divmod(value, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {secs} s" if secs else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def duration_words(seconds_: float) -> str:
    """How long something lasted, roughly, in at most two units: ``45 s``, ``12 min``, ``2 h 5 min``,
    ``3 days``, ``1 day 4 h``. Rounded down; less than nothing is ``0 s``."""
    whole = max(0, int(seconds_))
    if whole >= 86400:
        days, rest = divmod(whole, 86400)
        return plural(days, "day") + (f" {rest // 3600} h" if rest >= 3600 else "")
    return seconds(whole - whole % 60 if whole >= 60 else whole)


def plural(count: int, word: str) -> str:
    """``3 replicas``, ``1 replica``."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def progress_bar(done: int, total: int, width: int = 10) -> str:
    """A text progress bar such as ``▰▰▰▱▱▱▱▱▱▱``; an empty bar when nothing is wanted."""
    if total <= 0:
        return "▱" * width
    filled = round(width * min(max(done, 0), total) / total)
    return "▰" * filled + "▱" * (width - filled)
