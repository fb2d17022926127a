"""An episode's top-level message, told as a timeline that edits only ever add to, and the day's digest of
a deployment sleeping and waking.

The first line is the current state; then every step with its time, from → to, replicas and the container
error in short; then how the episode went and how long it took. Past ``MAX_STEPS_SHOWN`` the first step and
the latest ones stay, with a count of those only the thread holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.actions import DeploymentRef
from bot.gcore.models import DeploymentStatus
from bot.history import EpisodeActor
from bot.watch.story import failing
from bot.watch.transitions import AlertKind, Transition
from formatters.alerts import alert_buttons, alert_details, cc, status_words
from formatters.blocks import Block, Message, context, section
from formatters.changes import changes_line
from formatters.limits import MAX_SECTION_TEXT
from formatters.operations import DONE_WORDS
from formatters.regions import NO_REGION_NAMES, region_label
from formatters.text import (
    duration_words,
    escape_mrkdwn,
    plural,
    seconds,
    slack_date,
    truncate,
    user_mention,
)

MAX_STEPS_SHOWN = 12
# Under a section's 3,000 characters, with room for the "… more steps" line.
STEPS_TEXT_BUDGET = MAX_SECTION_TEXT - 100
STEP_ERROR_CHARS = 80
_TIME = "{time}"


def _state(step: Transition) -> DeploymentStatus:
    return step.snapshot.state if step.snapshot else DeploymentStatus.UNKNOWN


def _current(last: Transition) -> str:
    name = f"*{escape_mrkdwn(last.name)}*"
    snapshot = last.snapshot
    ready = f" · {snapshot.ready}/{snapshot.total} ready" if snapshot else ""
    if last.kind is AlertKind.DELETED:
        return f"🗑️ {name} is gone"
    if last.kind is AlertKind.FLAPPING:
        return f"🔁 {name} is flapping · now {status_words(last.new_status)}{ready}"
    if failing(last):
        return f"🚨 {name} is failing · {status_words(last.new_status)}{ready}"
    mark = "✅ " if last.recovery or last.kind is AlertKind.STABLE else ""
    return f"{mark}{name} is {status_words(last.new_status)}{ready}"


def _short_error(step: Transition, regions: Mapping[int, str]) -> str:
    if step.snapshot is None or not step.snapshot.errors:
        return ""
    region, message = step.snapshot.errors[0]
    more = len(step.snapshot.errors) - 1
    extra = f" (+{plural(more, 'region')})" if more else ""
    where = region_label(region, regions, lower=True)
    return f" · ⚠️ {escape_mrkdwn(truncate(message, STEP_ERROR_CHARS))} ({where}){extra}"


def step_line(
    step: Transition,
    stuck_after_seconds: int,
    *,
    with_error: bool = True,
    regions: Mapping[int, str] = NO_REGION_NAMES,
) -> str:
    """One step of a timeline: its time, what happened, replicas and the first container error (where,
    by ``regions``' name, else the region's id)."""
    snapshot = step.snapshot
    replicas = f" · {snapshot.ready}/{snapshot.total} ready" if snapshot else ""
    kind = step.kind
    if kind is AlertKind.CHANGED:
        what = f"{status_words(step.old_status)} → {status_words(step.new_status)}"
    elif kind is AlertKind.CREATED:
        what = f"🆕 appeared as {status_words(step.new_status)}"
    elif kind is AlertKind.STUCK:
        what = f"⏳ stuck in {status_words(step.new_status)} for over {seconds(stuck_after_seconds)}"
    elif kind is AlertKind.DEGRADED and snapshot:
        what = f"🟠 degraded, below its minimum of {snapshot.min_ready}"
    elif kind is AlertKind.RECOVERED:
        what = "✅ replicas back"
    elif kind is AlertKind.DELETED:
        what, replicas = f"🗑️ deleted (it was {status_words(step.old_status)})", ""
    elif kind is AlertKind.FLAPPING:
        what = f"🔁 flapping: {plural(step.flap_count, 'change')}, now {status_words(step.new_status)}"
    elif kind is AlertKind.SPEC_CHANGED:
        fields = dict.fromkeys(escape_mrkdwn(change.field) for change in step.changes)
        what = f"⚙️ changed: {', '.join(fields) or 'its settings'}"
    else:
        what = f"✅ stable again: {status_words(step.new_status)}"
    offline = " · happened while the bot was offline" if step.offline else ""
    error = _short_error(step, regions) if with_error else ""
    return f"{slack_date(step.at, _TIME)}  {what}{replicas}{error}{offline}"


def _fitted(lines: list[str], most: int) -> str:
    """The first step and as many of the latest as ``most`` lines and a section's limit allow, with a
    count of those only the thread holds: the newest step is never the one cut."""
    shown = list(lines)
    room = most if len(lines) <= most else most - 1  # the count takes a line
    while len(shown) > 2 and (len(shown) > room or len("\n".join(shown)) > STEPS_TEXT_BUDGET):
        shown.pop(1)
    hidden = len(lines) - len(shown)
    if hidden:
        shown.insert(1, f"… {plural(hidden, 'more step')} in the thread")
    return "\n".join(shown)


def outcome(story: Sequence[Transition]) -> str:
    """How the episode went, and for how long: ``✅ rolled out in 4 min``, ``🚨 still failing after 12 min``."""
    first, last = story[0], story[-1]
    took = duration_words((last.at - first.at).total_seconds())
    state = _state(last)
    lasted = last.at > first.at
    if last.kind is AlertKind.DELETED:
        return f"🗑️ deleted after {took}" if lasted else "🗑️ deleted"
    if last.kind is AlertKind.FLAPPING:
        return f"🔁 flapping for {took}"
    if failing(last):
        return f"🚨 still failing after {took}" if lasted else "🚨 failing"
    if state is DeploymentStatus.ACTIVE:
        troubled = any(step.problem for step in story)
        return f"✅ recovered after {took}" if troubled else f"✅ rolled out in {took}"
    if state is DeploymentStatus.DISABLED:
        return f"⚪ stopped after {took}"
    if state is DeploymentStatus.PENDING:
        return f"💤 scaled to zero after {took}"
    return f"⏳ in progress for {took}" if lasted else "⏳ in progress"


def actor_words(actor: EpisodeActor) -> str:
    """Who started the episode: ``update by alice@example.com at 12:00`` from Gcore's audit log, or
    ``stopped by @alice in Slack at 12:00`` (a live mention) from the bot's own."""
    when = f" at {slack_date(actor.at, _TIME)}" if actor.at is not None else ""
    if actor.in_slack:
        return f"{DONE_WORDS.get(actor.action, 'changed')} by {user_mention(actor.who)} in Slack{when}"
    action = escape_mrkdwn(actor.action.replace("_", " ")) if actor.action else "changed"
    return f"{action} by {escape_mrkdwn(actor.who)}{when}"


def render_timeline(
    story: Sequence[Transition],
    *,
    stuck_after_seconds: int,
    mentions: Sequence[str] = (),
    with_buttons: bool = True,
    compact: bool = False,
    regions: Mapping[int, str] = NO_REGION_NAMES,
    portal_url: str | None = None,
    actor: EpisodeActor | None = None,
    operate: bool = False,
) -> Message:
    """The episode's top-level message for the steps a channel was sent, oldest first (at least one).

    ``compact`` (for when Slack refuses the full one) keeps the first and the latest step, without errors.
    ``regions`` names regions by id; ``portal_url`` (the ``GCORE_PORTAL_URL`` template) adds Open in Gcore;
    ``actor`` (who started the episode, when known) adds "update by alice@example.com at 12:00";
    ``operate`` (someone may be an operator) adds Stop or Start while the deployment is failing.
    """
    first, last = story[0], story[-1]
    headline = _current(last)
    # Changes are counted from the last settled state: the latest step that has them tells them all.
    told = next((step.changes for step in reversed(story) if step.changes), ())
    changed = changes_line(told, regions)
    top = f"{headline}\n*What changed:* {changed}" if changed else headline
    lines = [step_line(step, stuck_after_seconds, with_error=not compact, regions=regions) for step in story]
    blocks: list[Block] = [section(top), section(_fitted(lines, 2 if compact else MAX_STEPS_SHOWN))]
    if last.kind is AlertKind.DELETED:
        blocks.append(section("\n".join(alert_details(last))))
    facts = [outcome(story), f"Project {last.project_id}", f"began {slack_date(first.at)}"]
    if actor is not None:
        facts.insert(1, actor_words(actor))
    blocks.append(context(" · ".join(facts)))
    if mentions:
        blocks.append(context(cc(mentions)))
    if with_buttons:
        state = _state(last) if operate and failing(last) else None
        ref = DeploymentRef(project_id=last.project_id, name=last.name)
        blocks.append(alert_buttons(ref, portal_url, state))
    text = f"{headline.replace('*', '')} (project {last.project_id}) · {outcome(story)}"
    return Message(text=f"{text} {cc(mentions)}" if mentions else text, blocks=blocks)


def render_sleep_digest(
    story: Sequence[Transition], *, with_buttons: bool = True, portal_url: str | None = None
) -> Message:
    """The day's one message about a deployment scaling to zero and waking: how often, and now;
    ``portal_url`` (the ``GCORE_PORTAL_URL`` template) adds Open in Gcore to its buttons."""
    last = story[-1]
    name = f"*{escape_mrkdwn(last.name)}*"
    slept = sum(1 for step in story if _state(step) is DeploymentStatus.PENDING)
    now = "💤 asleep" if _state(last) is DeploymentStatus.PENDING else "☀️ awake"
    headline = (
        f"💤 {name} slept {slept}× today · now {now}" if slept else f"☀️ {name} woke up today · now {now}"
    )
    facts = [
        f"Project {last.project_id}",
        f"last {'slept' if _state(last) is DeploymentStatus.PENDING else 'woke'} {slack_date(last.at)}",
        "scaling to zero and waking are counted here, once a day, and notify no one",
    ]
    blocks: list[Block] = [section(headline), context(" · ".join(facts))]
    if with_buttons:
        blocks.append(alert_buttons(DeploymentRef(project_id=last.project_id, name=last.name), portal_url))
    return Message(text=f"{headline.replace('*', '')} (project {last.project_id})", blocks=blocks)
