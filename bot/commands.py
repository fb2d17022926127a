"""Parsing the text after ``/inference``: pure, so every odd input is tested without Slack."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.errors import ArgumentProblem, BadArgument
from bot.gcore.models import MAX_PROJECT_ID, deployment_name_problem
from bot.watch.subscriptions import ALL_DEPLOYMENTS

# Slack clients on macOS and phones turn "--" into an en or em dash.
_DASHES = re.compile(r"^[\u2012\u2013\u2014\u2015]+")
# A word, where a Slack token such as ``<@U0ABC|alice smith>`` is one word whatever its label holds.
_WORDS = re.compile(r"(?:<[^<>]*>|[^\s<]|<)+")
_PROJECT_FLAG = "--project"
_PROJECT_ASSIGN = "project="
# Options that take a value, and switches that do not.
REGION_OPTION = "--region"
LINES_OPTION = "--lines"
_VALUE_OPTIONS = frozenset({"--only", REGION_OPTION, LINES_OPTION})
# ``logs``: lines shown by default, and at most.
LOG_LINES_DEFAULT = 20
LOG_LINES_MAX = 100
PROBLEMS_SWITCH = "--problems"
_SWITCHES = frozenset({"--all", "--flat", PROBLEMS_SWITCH})
ONLY_PROBLEMS = "problems"
# ``--notify`` takes every word up to the next option: mentions as Slack sends them with ``should_escape``
# (a user ``<@U0ABC|alice>``, a user group ``<!subteam^S0ABC|@oncall>``), kept without their labels.
NOTIFY_FLAG = "--notify"
NOTIFY_NONE = "none"
NOTIFY_MAX = 20
_USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>$")
_GROUP_MENTION = re.compile(r"^<!subteam\^(S[A-Z0-9]+)(?:\|[^<>]*)?>$")
_BROADCAST = re.compile(r"^(?:<!(?:channel|here|everyone)(?:\|[^<>]*)?>|@(?:channel|here|everyone))$", re.I)


@dataclass(frozen=True)
class ParsedCommand:
    """A subcommand, its positional words, the project it names (None: the default), and its options."""

    verb: str
    args: tuple[str, ...]
    project_id: int | None
    switches: frozenset[str] = frozenset()
    options: tuple[tuple[str, str], ...] = ()
    # ``--notify``: the mentions, normalized; ``()`` for ``--notify none``; None when not given.
    notify: tuple[str, ...] | None = None

    def option(self, name: str) -> str | None:
        """The value given to ``--name``, if any."""
        return dict(self.options).get(name)


def _parse_project(raw: str) -> int:
    if not raw:
        # ``project=`` with nothing after it.
        raise BadArgument(ArgumentProblem.NEEDS_VALUE, value=_PROJECT_FLAG)
    # isascii: "²" and "①" pass isdigit() but int() refuses them; the length bound keeps int() away from
    # a 5,000-digit number before the range check does.
    digits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_PROJECT_ID))
    if not digits or not 0 < int(raw) <= MAX_PROJECT_ID:
        raise BadArgument(ArgumentProblem.NOT_A_PROJECT, value=raw)
    return int(raw)


def parse_command(text: str) -> ParsedCommand:
    """Split the command text into a verb, positional words and ``--project N``/``project=N``."""
    words = [_DASHES.sub("--", word) for word in _WORDS.findall(text)]
    project_id: int | None = None
    positional: list[str] = []
    switches: set[str] = set()
    options: dict[str, str] = {}
    notify: tuple[str, ...] | None = None
    i = 0
    while i < len(words):
        word = words[i]
        lowered = word.lower()
        flag, _, inline_value = lowered.partition("=")
        if flag == NOTIFY_FLAG:
            values = [word[len(flag) + 1 :]] if inline_value else []
            i += 1
            while i < len(words) and not _ends_mentions(words[i]):
                values.append(words[i])
                i += 1
            notify = notify_mentions(values)
            continue
        if flag == _PROJECT_FLAG or flag in _VALUE_OPTIONS:
            value = word[len(flag) + 1 :] if inline_value else (words[i + 1] if i + 1 < len(words) else "")
            if not value:
                raise BadArgument(ArgumentProblem.NEEDS_VALUE, value=flag)
            if flag == _PROJECT_FLAG:
                project_id = _parse_project(value)
            else:
                options[flag] = value.lower()
            i += 1 if inline_value else 2
            continue
        if lowered in _SWITCHES:
            switches.add(lowered)
        elif lowered.startswith("--"):
            raise BadArgument(ArgumentProblem.UNKNOWN_OPTION, value=word)
        elif lowered.startswith(_PROJECT_ASSIGN):
            project_id = _parse_project(word[len(_PROJECT_ASSIGN) :])
        else:
            positional.append(word)
        i += 1
    verb = positional[0].lower() if positional else "help"
    return ParsedCommand(
        verb=verb,
        args=tuple(positional[1:]),
        project_id=project_id,
        switches=frozenset(switches),
        options=tuple(sorted(options.items())),
        notify=notify,
    )


def _ends_mentions(word: str) -> bool:
    """Whether ``word`` is the next option, which ends the mentions of ``--notify``."""
    return word.startswith("--") or word.lower().startswith(_PROJECT_ASSIGN)


def notify_mentions(values: list[str]) -> tuple[str, ...]:
    """The words after ``--notify`` as mentions (``<@U…>``, ``<!subteam^S…>``), deduplicated in order;
    ``()`` for ``none``. A broadcast, or a word Slack did not send as a mention, is refused."""
    if not values:
        raise BadArgument(ArgumentProblem.NEEDS_VALUE, value=NOTIFY_FLAG)
    if any(value.lower() == NOTIFY_NONE for value in values):
        if len(values) > 1:
            raise BadArgument(ArgumentProblem.NOTIFY_NONE_ALONE)
        return ()
    mentions: list[str] = []
    for value in values:
        mention = _mention(value)
        if mention not in mentions:
            mentions.append(mention)
    if len(mentions) > NOTIFY_MAX:
        raise BadArgument(ArgumentProblem.TOO_MANY_MENTIONS, value=str(NOTIFY_MAX))
    return tuple(mentions)


def _mention(value: str) -> str:
    """A user or user group mention without its label; anything else is refused (a broadcast unechoed)."""
    if _BROADCAST.match(value):
        raise BadArgument(ArgumentProblem.BROADCAST_MENTION)
    if user := _USER_MENTION.match(value):
        return f"<@{user.group(1)}>"
    if group := _GROUP_MENTION.match(value):
        return f"<!subteam^{group.group(1)}>"
    raise BadArgument(ArgumentProblem.NOT_A_MENTION, value=value)


def resolve_project(project_id: int | None, default: int | None) -> int:
    """The project a command acts on: the one it names, else the configured default."""
    if project_id is not None:
        return project_id
    if default is None:
        raise BadArgument(ArgumentProblem.WHICH_PROJECT)
    return default


def deployment_name_arg(command: ParsedCommand) -> str:
    """The single deployment name a subcommand takes, validated before any API call."""
    if not command.args:
        raise BadArgument(ArgumentProblem.WHICH_DEPLOYMENT, verb=command.verb)
    if len(command.args) > 1:
        raise BadArgument(ArgumentProblem.ONE_DEPLOYMENT, verb=command.verb)
    name = command.args[0]
    problem = deployment_name_problem(name)
    if problem is not None:
        raise BadArgument(problem, value=name)
    return name


def subscription_target(command: ParsedCommand) -> str:
    """What ``watch``/``unwatch`` is about: one deployment, or ``--all`` of the project's."""
    if "--all" in command.switches:
        if command.args:
            raise BadArgument(ArgumentProblem.NAME_AND_ALL, verb=command.verb)
        return ALL_DEPLOYMENTS
    return deployment_name_arg(command)


def only_problems(command: ParsedCommand) -> bool:
    """Whether ``--only problems`` was asked for; any other ``--only`` is refused."""
    only = command.option("--only")
    if only is not None and only != ONLY_PROBLEMS:
        raise BadArgument(ArgumentProblem.ONLY_VALUE, value=only)
    return only == ONLY_PROBLEMS


def list_problems_only(command: ParsedCommand) -> bool:
    """Whether ``list --problems`` (or, as ``watch`` says it, ``list --only problems``) asks for only the
    deployments that need attention."""
    return PROBLEMS_SWITCH in command.switches or only_problems(command)


def log_lines(command: ParsedCommand) -> int:
    """How many log lines ``logs`` shows: ``--lines N`` with N from 1 to ``LOG_LINES_MAX``, else the default."""
    raw = command.option(LINES_OPTION)
    if raw is None:
        return LOG_LINES_DEFAULT
    # isascii: Unicode digits such as "²" pass isdigit() but int() refuses them.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= LOG_LINES_MAX:
        raise BadArgument(ArgumentProblem.LINES_VALUE, value=str(LOG_LINES_MAX), verb=command.verb)
    return int(raw)


def region_id_of(raw: str, names: Mapping[int, str]) -> int:
    """The region ``--region`` names, by id or by display name (any case). An id is taken as it is when
    the names could not be looked up; anything else unknown is refused with the known regions."""
    wanted = raw.strip().casefold()
    if wanted.isascii() and wanted.isdigit() and int(wanted) > 0 and (not names or int(wanted) in names):
        return int(wanted)
    for region_id, name in names.items():
        if name.casefold() == wanted:
            return region_id
    known = sorted(names.items(), key=lambda item: item[1])
    choices = tuple(f"{name} ({region_id})" for region_id, name in known)
    raise BadArgument(ArgumentProblem.UNKNOWN_REGION, value=raw, choices=choices)
