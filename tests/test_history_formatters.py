"""``/inference history`` as the asker reads it, through golden files, and within Slack's limits however long
the history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.actions import ActionId, DeploymentRef
from bot.history import MAX_EPISODES, MAX_STEPS, Episode, EpisodeActor, History
from bot.watch.specs import Change
from bot.watch.transitions import AlertKind, Transition, new_episode
from formatters.blocks import Message
from formatters.history import render_history
from tests.blockkit import all_text, limit_problems
from tests.test_e2e_http import button
from tests.test_formatters import check_golden
from tests.test_timeline_formatters import FLIPS, OOM, ROLLOUT, T0, step


def episode(steps: Sequence[Transition], hours: int = 0, step_count: int | None = None) -> Episode:
    moved = tuple(replace(s, at=s.at + timedelta(hours=hours)) for s in steps)
    return Episode(id=new_episode(moved[0].at), steps=moved, step_count=step_count or len(moved))


ROUTINE = [step("ACTIVE", "DEPLOYING", 0), step("DEPLOYING", "ACTIVE", 3)]
# A long flapping episode: the store kept its first step and its latest, of 40.
LONG_FLAPPING = [FLIPS[0], *[replace(FLIPS[2], at=FLIPS[2].at + timedelta(minutes=i)) for i in range(6)]]
FULL = History(
    project_id=1,
    name="my-instance",
    episodes=(
        episode(LONG_FLAPPING, hours=30, step_count=40),
        episode(ROLLOUT, hours=26),
        episode(ROUTINE, hours=2),
    ),
    older=True,
    naps=3,
    naps_since=T0 + timedelta(hours=1),
)
HISTORIES = {
    "episodes": render_history(FULL, watched=False, stuck_after_seconds=900),
    "unwatched": render_history(History(1, "other-one"), watched=False, stuck_after_seconds=900),
    "quiet": render_history(
        History(1, "my-instance", naps=2, naps_since=T0), watched=True, stuck_after_seconds=900
    ),
}


@pytest.mark.parametrize("case", sorted(HISTORIES))
def test_history_golden(case: str) -> None:
    message = HISTORIES[case]
    assert not limit_problems(message.blocks, message.text)
    check_golden(f"history_{case}", {"text": message.text, "blocks": message.blocks})


def test_history_is_newest_first_with_outcomes_and_the_steps_left_out() -> None:
    text = all_text(HISTORIES["episodes"].blocks)
    flapping, rollout, routine = (
        text.index(s) for s in ("🔁 flapping for", "✅ recovered after 4 min", "✅ rolled out in 3 min")
    )
    assert flapping < rollout < routine
    assert "… 33 more steps" in text and OOM.split(":")[0] in text
    assert "💤 Scaled to zero 3×" in text and "Only the latest 3 episodes" in text


def test_unwatched_deployment_without_history_is_one_sentence_and_a_watch_button() -> None:
    message = HISTORIES["unwatched"]
    assert (
        message.text
        == "Nobody in this channel watches `other-one` in project 1, and I have no history of it."
    )
    watch = button(message.blocks, ActionId.WATCH_DEPLOYMENT)
    assert DeploymentRef.model_validate_json(watch["value"]) == DeploymentRef(project_id=1, name="other-one")
    watched = render_history(History(1, "other-one"), watched=True, stuck_after_seconds=900)
    assert "No rollout or incident" in watched.text
    assert not any(b["type"] == "actions" for b in watched.blocks)


def test_the_longest_history_fits_slack_and_still_tells_every_outcome() -> None:
    error = "<!channel> " + "ImagePullBackOff " * 100
    odd = "S" * 64  # an undocumented status, kept raw at the column's width
    steps = [
        step(
            *((odd, "PARTIALLYDEPLOYED") if i % 2 else ("PARTIALLYDEPLOYED", odd)),
            i,
            error=error,
            offline=True,
        )
        for i in range(MAX_STEPS)
    ]
    steps[-1] = replace(steps[-1], kind=AlertKind.FLAPPING, flap_count=99, problem=True)
    episodes = tuple(episode(steps, hours=-i, step_count=5000) for i in range(MAX_EPISODES))
    longest = History(1, "n" * 30, episodes=episodes, older=True, naps=10**6, naps_since=T0)
    message: Message = render_history(longest, watched=False, stuck_after_seconds=900)
    assert not limit_problems(message.blocks, message.text)
    assert all_text(message.blocks).count("🔁 flapping for") == MAX_EPISODES
    assert "<!channel>" not in all_text(message.blocks)


def test_each_episode_says_what_changed_and_who_started_it() -> None:
    first = replace(ROLLOUT[0], changes=(Change("image", old="nginx:1.25", new="nginx:1.27"),))
    told = replace(episode([first, *ROLLOUT[1:]]), actor=EpisodeActor("alice@example.com", "update", T0))
    text = all_text(
        render_history(
            History(1, "my-instance", episodes=(told,)), watched=True, stuck_after_seconds=900
        ).blocks
    )
    assert "update by alice@example.com" in text and "nginx:1.25" in text and "nginx:1.27" in text


def test_history_names_regions_as_gcore_does() -> None:
    found = History(1, "my-instance", episodes=(episode(ROLLOUT),))
    named = all_text(
        render_history(found, watched=True, stuck_after_seconds=900, regions={100: "Amsterdam"}).blocks
    )
    assert "(Amsterdam)" in named and "(region 100)" not in named
    assert "(region 100)" in all_text(render_history(found, watched=True, stuck_after_seconds=900).blocks)
