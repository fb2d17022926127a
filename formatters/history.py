"""``/inference history``: a deployment's latest episodes, newest first, as the store keeps them.

Each episode is one section: when it began, how it went and how long it took (``timeline.outcome``), then
its steps as the timeline tells them (``timeline.step_line``). Scaling to zero and waking is routine and no
episode: one line counts the naps instead of a line per day, so a deployment that sleeps every night does
not push its rollouts and incidents out of the message. A long history is told shorter, never cut: fewer
steps per episode, then no container errors, then the outcomes alone, until it fits Slack's limits.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.actions import ActionId, DeploymentRef
from bot.history import Episode, History
from formatters.blocks import Block, Message, actions, blocks_text_length, button, context, section
from formatters.changes import changes_line
from formatters.limits import MAX_SECTION_TEXT, MESSAGE_BLOCKS_TEXT_BUDGET
from formatters.regions import NO_REGION_NAMES
from formatters.text import code, escape_mrkdwn, plural, slack_date
from formatters.timeline import actor_words, outcome, step_line

# How each episode is told, fullest first: at most this many steps, with or without container errors.
SHAPES = ((12, True), (6, True), (3, True), (3, False), (2, False), (0, False))


def render_history(
    history: History,
    *,
    watched: bool,
    stuck_after_seconds: int,
    regions: Mapping[int, str] = NO_REGION_NAMES,
) -> Message:
    """The deployment's history for the asker; ``watched`` says whether this channel watches it (if not,
    the message offers to)."""
    ref = DeploymentRef(project_id=history.project_id, name=history.name)
    project = history.project_id
    if not history.episodes and not history.naps and not watched:
        sentence = (
            f"Nobody in this channel watches {code(history.name)} in project {project}, "
            "and I have no history of it."
        )
        return Message(text=sentence, blocks=[section(sentence), _watch(ref)])
    name = f"*{escape_mrkdwn(history.name)}*"
    if history.episodes:
        headline = f"🕘 History of {name} in project {project}, newest first"
    else:
        headline = f"🕘 No rollout or incident of {name} in project {project} is on record yet."
    notes = _notes(history, watched)
    for most, with_error in SHAPES:
        texts = [_episode_text(e, most, with_error, stuck_after_seconds, regions) for e in history.episodes]
        blocks = [section(headline), *(section(text) for text in texts)]
        if notes:
            blocks.append(context(notes))
        if not watched:
            blocks.append(_watch(ref))
        fits = all(len(text) <= MAX_SECTION_TEXT for text in texts)
        if fits and blocks_text_length(blocks) <= MESSAGE_BLOCKS_TEXT_BUDGET:
            break
    return Message(text=_fallback(history, headline), blocks=blocks)


def _episode_text(
    episode: Episode, most: int, with_error: bool, stuck_after_seconds: int, regions: Mapping[int, str]
) -> str:
    """When the episode began and how it went, then at most ``most`` lines of steps: the first and the
    latest, with a count of those between left out (here or by the store)."""
    heading = f"*{slack_date(episode.began)}* · {outcome(episode.steps)}"
    if episode.actor is not None:
        heading += f" · {actor_words(episode.actor)}"
    if episode.changes:
        heading += f"\n{changes_line(episode.changes, regions)}"
    steps = episode.steps
    if most == 0:
        return f"{heading} · {plural(episode.step_count, 'step')}"
    if not episode.left_out and len(steps) <= most:
        shown = list(steps)
    else:
        shown = [steps[0], *steps[max(1, len(steps) - (most - 1)) :]]
    lines = [step_line(step, stuck_after_seconds, with_error=with_error, regions=regions) for step in shown]
    hidden = episode.step_count - len(shown)
    if hidden:
        lines.insert(1, f"… {plural(hidden, 'more step')}")
    return "\n".join([heading, *lines])


def _notes(history: History, watched: bool) -> str:
    """What the history leaves out, and whether this channel hears of the deployment."""
    notes = []
    if history.naps and history.naps_since is not None:
        notes.append(
            f"💤 Scaled to zero {history.naps}× since {slack_date(history.naps_since)}: routine, not listed"
        )
    if history.older:
        notes.append(f"Only the latest {plural(len(history.episodes), 'episode')}; older ones are not shown")
    if not watched:
        notes.append("This channel doesn't watch it")
    return " · ".join(notes)


def _fallback(history: History, headline: str) -> str:
    text = headline.replace("*", "")
    if history.episodes:
        latest = history.episodes[0]
        text += f": {plural(len(history.episodes), 'episode')}, the latest {outcome(latest.steps)}"
    return text


def _watch(ref: DeploymentRef) -> Block:
    return actions(
        "history_actions",
        button("Watch in this channel", ActionId.WATCH_DEPLOYMENT, value=ref.model_dump_json()),
    )
