"""The words of the outage notices: the bot can't reach the Gcore API for a project (why, since when), and
it can again (after how long)."""

from __future__ import annotations

from bot.watch.transitions import AlertKind, Transition
from formatters.text import code, duration_words, slack_date

# What a failed poll's reason code (``bot.gcore.errors.failure_reason``) means, completing "The bot can't
# reach the Gcore API for project 1: …"; ``{code}`` is the HTTP status after the colon of ``auth:401``.
_REASON_WORDS = {
    "auth": "the API key was rejected ({code})",
    "no_answer": "no answer (requests time out, or connections are refused or dropped)",
    "http": "Gcore errors ({code})",
    "rate_limited": "Gcore is rate limiting the bot (429)",
    "invalid": "its listing of deployments can't be read or is incomplete",
    "not_found": "Gcore knows no such project that the API key can see",
    "rejected": "Gcore refuses the request ({code})",
    "error": "an unexpected error",
}
# What only a person can fix gets said who should.
_REASON_HINTS = {
    "auth": "Whoever runs the bot should check `GCORE_API_KEY` and its permissions.",
}


def reason_words(reason: str | None) -> str | None:
    """``auth:401`` → ``the API key was rejected (401)``; None without a reason (a notice stored before
    reasons were); a code this version does not know is shown as itself, escaped."""
    if not reason:
        return None
    kind, _, status = reason.partition(":")
    words = _REASON_WORDS.get(kind)
    if words is None or ("{code}" in words) != status.isdigit():
        return f"an error ({code(reason)})"
    return words.format(code=status)


def outage_headline(t: Transition) -> str:
    """The headline of a ``GCORE_UNREACHABLE`` or ``GCORE_REACHABLE`` notice."""
    if t.kind is AlertKind.GCORE_UNREACHABLE:
        why = reason_words(t.detail)
        return f"📡 The bot can't reach the Gcore API for project {t.project_id}" + (
            f": {why}" if why else ""
        )
    lasted = f", after {duration_words((t.at - t.since).total_seconds())}" if t.since else ""
    return f"📡 The Gcore API is reachable again for project {t.project_id}{lasted}"


def outage_details(t: Transition) -> list[str]:
    """The lines under the headline of an outage notice."""
    if t.kind is AlertKind.GCORE_UNREACHABLE:
        lines = (
            [
                f"Failing since {slack_date(t.since)}; alerts for its deployments are on hold, "
                "and this channel will hear when it is back."
            ]
            if t.since
            else ["Alerts for its deployments are on hold; this channel will hear when it is back."]
        )
        hint = _REASON_HINTS.get((t.detail or "").partition(":")[0])
        return [*lines, hint] if hint else lines
    since = f"It had been failing since {slack_date(t.since)}. " if t.since else ""
    return [f"{since}Alerts resume; any change that happened meanwhile comes next."]
