"""``/inference audit``: the latest starts and stops, and their refusals, newest first, each with who,
what, which deployment, when, how it ended and why."""

from __future__ import annotations

from collections.abc import Sequence

from bot.access.policy import AccessProblem
from bot.audit import AuditEntry, AuditResult
from formatters.blocks import Block, Message, context, header, section
from formatters.text import code, escape_mrkdwn, slack_date, truncate, user_mention

RESULTS = {
    AuditResult.DONE: "✅ done",
    AuditResult.FAILED: "❌ failed",
    AuditResult.UNKNOWN: "❓ unknown",
    AuditResult.REFUSED: "🚫 refused",
    AuditResult.PENDING: "⏳ no answer from Gcore recorded",
}
# Why, for each reason an audit row stores (a refusal's rule and setting, a failure's code).
REASONS = {
    AccessProblem.PROJECT: "project not in `ALLOWED_PROJECT_IDS`",
    AccessProblem.CHANNEL: "channel not in `ALLOWED_CHANNEL_IDS`",
    AccessProblem.EXTERNAL_USER: "another organization (`ALLOW_EXTERNAL_USERS`)",
    AccessProblem.ORGANIZATION_UNKNOWN: "the bot's own organization was not known yet",
    AccessProblem.NOT_OPERATOR: "not an operator (`OPERATOR_USER_IDS`, `OPERATOR_USERGROUP_IDS`)",
    AccessProblem.ACTIONS_OFF: "no operator is set",
    "recently_done": "the same was done moments before",
    "no_answer": "Gcore did not answer",
    "rate_limited": "Gcore was rate limiting",
    "invalid": "Gcore's answer was unreadable",
    "not_found": "no such deployment",
    "error": "an unexpected error",
}
# A deployment's name as a line shows it at most (Gcore's are 30 at most; an old row may hold anything).
NAME_SHOWN = 64


def _lost(detail: str | None) -> str:
    """Why an action's end is unknown: Gcore's answer was lost, or the bot failed while it waited."""
    kind, _, status = (detail or "").partition(":")
    if kind == "http" and status.isdigit():
        return f": Gcore's answer was lost (HTTP {status})"
    if kind == "no_answer":
        return ": Gcore's answer was lost (none came)"
    return ": the bot failed while Gcore was asked; `status` shows whether it acted"


def _why(detail: str | None) -> str:
    if not detail:
        return ""
    kind, _, status = detail.partition(":")
    if kind in ("http", "auth", "rejected") and status.isdigit():
        return f": Gcore answered HTTP {status}"
    return f": {REASONS.get(detail, code(detail))}"


def audit_line(entry: AuditEntry) -> str:
    """One row: when, who, what on which deployment, and how it ended (and why)."""
    why = _lost(entry.detail) if entry.result is AuditResult.UNKNOWN else _why(entry.detail)
    return (
        f"{slack_date(entry.at)} · {user_mention(entry.user_id)} · {entry.action.value} "
        f"*{escape_mrkdwn(truncate(entry.name, NAME_SHOWN))}* (project {entry.project_id}) · "
        f"{RESULTS[entry.result]}{why}"
    )


def render_audit(entries: Sequence[AuditEntry], name: str | None = None) -> Message:
    """The audit trail for the asker: ``entries`` newest first, of one deployment when ``name`` is given."""
    about = f" of {code(name)}" if name else ""
    if not entries:
        text = f"No start or stop{about} has been asked for yet."
        return Message(text=text, blocks=[section(text)])
    blocks: list[Block] = [
        header(f"Starts and stops{' of ' + name if name else ''}"),
        *(section(audit_line(entry)) for entry in entries),
        context(f"The latest {len(entries)}, newest first, in the projects this bot serves."),
    ]
    return Message(text=f"The latest {len(entries)} starts, stops and refusals{about}", blocks=blocks)
