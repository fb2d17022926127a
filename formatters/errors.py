"""Errors in words: one sentence a person can act on, for every error that carries data instead."""

from __future__ import annotations

from bot.access.policy import AccessDenied, AccessProblem
from bot.errors import (
    ArgumentProblem,
    BadArgument,
    ChannelNotPostable,
    ChannelProblem,
    DatabaseUnavailable,
    UserFacingError,
)
from bot.gcore.errors import (
    DeploymentNotFound,
    GcoreAuthError,
    GcoreIncompleteListing,
    GcoreInvalidResponse,
    GcoreRateLimited,
    GcoreRequestRejected,
    ProjectNotFound,
)
from bot.gcore.models import DEPLOYMENT_NAME_MAX_LENGTH, DEPLOYMENT_NAME_MIN_LENGTH
from bot.slack.errors import SlackCallFailed, SlackFailureKind
from formatters.text import code, defuse_mentions, escape_mrkdwn

COMMAND = "/inference"
USAGE = {
    "status": f"`{COMMAND} status my-instance`",
    "watch": f"`{COMMAND} watch my-instance` (or `--all`)",
    "unwatch": f"`{COMMAND} unwatch my-instance` (or `--all`)",
    "history": f"`{COMMAND} history my-instance`",
    "stop": f"`{COMMAND} stop my-instance`",
    "start": f"`{COMMAND} start my-instance`",
    "logs": f"`{COMMAND} logs my-instance` (`--lines 50`, `--region Amsterdam`)",
    "audit": f"`{COMMAND} audit my-instance` (or no name, for every deployment)",
}
NEEDS_VALUE_EXAMPLES = {
    "--project": "`--project 42`",
    "--notify": "`--notify @alice @oncall` (picked from Slack's autocomplete)",
    "--lines": "`--lines 50`",
    "--region": "`--region Amsterdam` (a region's name or id)",
}
NOTIFY_PROBLEMS = frozenset(
    {
        ArgumentProblem.NOT_A_MENTION,
        ArgumentProblem.BROADCAST_MENTION,
        ArgumentProblem.NOTIFY_NONE_ALONE,
        ArgumentProblem.TOO_MANY_MENTIONS,
    }
)
INVITE_ME = (
    "I can't post in this channel yet: invite me with `/invite @inference` "
    "(or the name your workspace gave the app), then run the command again."
)


def error_sentence(error: UserFacingError | SlackCallFailed) -> str:
    """The sentence for ``error``: what happened and what to do, as safe mrkdwn."""
    if isinstance(error, BadArgument):
        return _bad_argument(error)
    if isinstance(error, AccessDenied):
        return _access(error)
    if isinstance(error, ChannelNotPostable):
        if error.problem is ChannelProblem.ARCHIVED:
            return "This channel is archived; alerts need a channel that is open."
        return INVITE_ME
    if isinstance(error, DatabaseUnavailable):
        return "The bot's database does not answer right now; try again in a minute."
    if isinstance(error, SlackCallFailed):
        if error.failure.kind is SlackFailureKind.RATE_LIMITED:
            return "Slack is rate limiting the bot right now; try again in a few seconds."
        return "Slack did not take the bot's request; try again in a minute."
    return _gcore(error)


def _bad_argument(error: BadArgument) -> str:
    problem, value = error.problem, error.value
    usage = USAGE.get(error.verb, USAGE["status"])
    if problem is ArgumentProblem.NOT_A_PROJECT:
        shown = value if len(value) <= 20 else f"{value[:20]}…"
        return (
            f"{code(shown)} is not a project number; use `--project N` with N a project's number (1, 2, …)."
        )
    if problem is ArgumentProblem.NEEDS_VALUE:
        example = NEEDS_VALUE_EXAMPLES.get(value, f"`{value} problems`")
        return f"`{value}` needs a value, as in {example}."
    if problem is ArgumentProblem.UNKNOWN_OPTION:
        return f"I don't know the option {code(value[:40])}; `{COMMAND} help` lists them."
    if problem is ArgumentProblem.WHICH_PROJECT:
        return "Which project? Add `--project N`, or set `GCORE_CLOUD_PROJECT_ID` for a default."
    if problem is ArgumentProblem.WHICH_DEPLOYMENT:
        return f"Which deployment? Try {usage}."
    if problem is ArgumentProblem.ONE_DEPLOYMENT:
        return f"One deployment at a time, please: {usage}."
    if problem is ArgumentProblem.NAME_LENGTH:
        return (
            f"{code(value[:60])} cannot be a deployment name: a deployment name has "
            f"{DEPLOYMENT_NAME_MIN_LENGTH} to {DEPLOYMENT_NAME_MAX_LENGTH} characters."
        )
    if problem is ArgumentProblem.NAME_CHARACTERS:
        return (
            f"{code(value[:60])} cannot be a deployment name: a deployment name has only lowercase "
            "letters, digits and dashes, and starts and ends with a letter or digit."
        )
    if problem is ArgumentProblem.NAME_AND_ALL:
        return f"Either a deployment name or `--all`, not both: {usage}."
    if problem is ArgumentProblem.ONLY_VALUE:
        return f"`--only` takes `problems`, as in `{COMMAND} watch my-instance --only problems`."
    if problem in NOTIFY_PROBLEMS:
        return _notify(problem, value)
    if problem is ArgumentProblem.LINES_VALUE:
        return f"`--lines` takes a whole number of lines from 1 to {value}, as in `--lines 50`."
    if problem is ArgumentProblem.UNKNOWN_REGION:
        return _unknown_region(value, error.choices)
    return "This button is out of date; run the command again for a fresh one."


ASK_ADMIN = "ask whoever runs the bot"
ACCESS = {
    AccessProblem.CHANNEL: (
        "I don't answer in this channel: the bot serves only the channels in `ALLOWED_CHANNEL_IDS`; "
        f"use one of those, or {ASK_ADMIN} to add this one."
    ),
    AccessProblem.EXTERNAL_USER: (
        "You are in another organization than the one that runs this bot, so it takes no commands or "
        f"clicks from you here; {ASK_ADMIN} if it should (`ALLOW_EXTERNAL_USERS=true`)."
    ),
    AccessProblem.ORGANIZATION_UNKNOWN: (
        "Slack has not told me yet which organization runs this bot, so I can't check yours; "
        "try again in a minute."
    ),
    AccessProblem.NOT_OPERATOR: (
        "Only operators can start and stop deployments: the people in `OPERATOR_USER_IDS` and the members "
        f"of the user groups in `OPERATOR_USERGROUP_IDS`; {ASK_ADMIN}."
    ),
    AccessProblem.ACTIONS_OFF: (
        "Starting and stopping deployments from Slack is off: no operator is set "
        f"(`OPERATOR_USER_IDS`, `OPERATOR_USERGROUP_IDS`); {ASK_ADMIN}."
    ),
}


def _access(error: AccessDenied) -> str:
    if error.problem is AccessProblem.PROJECT:
        return (
            f"Project {error.project_id} is not one this bot serves: it shows, watches and acts on only the "
            f"projects in `ALLOWED_PROJECT_IDS`; {ASK_ADMIN} to add it."
        )
    return ACCESS[error.problem]


def _unknown_region(value: str, known: tuple[str, ...]) -> str:
    if not known:
        return (
            f"I can't tell which region {code(value[:40])} is: Gcore's region names could not be read just "
            "now; give the region's id, or try again in a minute."
        )
    return f"I don't know the region {code(value[:40])}; the regions are {escape_mrkdwn(', '.join(known))}."


def _notify(problem: ArgumentProblem, value: str) -> str:
    if problem is ArgumentProblem.BROADCAST_MENTION:
        # The broadcast itself is never echoed; the words naming it are defused all the same.
        return defuse_mentions(
            "Alerts can't notify a whole channel: `--notify` takes people and user groups, "
            "not @channel, @here or @everyone."
        )
    if problem is ArgumentProblem.NOTIFY_NONE_ALONE:
        return "`--notify none` clears the list, so it comes alone; to replace the list, give only the new mentions."
    if problem is ArgumentProblem.TOO_MANY_MENTIONS:
        return f"`--notify` takes at most {value} people and user groups; a user group covers many at once."
    return (
        f"Slack did not send {code(value[:60])} as a mention, so I can't tell who it is: after `--notify`, "
        "pick each person or user group from Slack's autocomplete as you type `@`."
    )


def _gcore(error: UserFacingError) -> str:
    if isinstance(error, DeploymentNotFound):
        return f"There is no deployment named {code(error.name)} in project {error.project_id}."
    if isinstance(error, ProjectNotFound):
        return (
            f"Gcore knows no project {error.project_id} that the bot's API key can see; "
            "check the number, or pass `--project N`."
        )
    if isinstance(error, GcoreAuthError):
        if error.status_code == 403:
            return "The bot's Gcore API key is not allowed to do that; ask whoever runs the bot to check its permissions."
        return "The bot's Gcore API key was rejected; ask whoever runs the bot to check `GCORE_API_KEY`."
    if isinstance(error, GcoreRateLimited):
        wait = f" in {round(error.retry_after)} s" if error.retry_after else " in a minute"
        return f"Gcore is rate limiting the bot; try again{wait}."
    if isinstance(error, GcoreInvalidResponse):
        return "The Gcore API sent an answer the bot could not read; try again in a minute."
    if isinstance(error, GcoreIncompleteListing):
        return f"Gcore's list of deployments in project {error.project_id} came back incomplete; try again in a minute."
    if isinstance(error, GcoreRequestRejected):
        # Gcore's own message stays in the bot's log: an API or proxy that echoes the request would hold the key.
        return (
            f"Gcore refused the request (HTTP {error.status_code}); check the name and the project, and ask "
            "whoever runs the bot to look in its log for Gcore's reason."
        )
    return "The Gcore API did not answer; try again in a minute."
