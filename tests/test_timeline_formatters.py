"""An episode's timeline message, the day's sleep digest and the Unwatch choice, read through golden files."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.actions import DeploymentRef
from bot.watch.specs import Change
from bot.watch.transitions import AlertKind, Snapshot, Transition
from formatters.alerts import render_alert
from formatters.blocks import Message
from formatters.timeline import MAX_STEPS_SHOWN, render_sleep_digest, render_timeline
from formatters.unwatching import render_unwatch_choice
from tests.blockkit import all_text, limit_problems
from tests.test_formatters import check_golden

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ONCALL = ("<!subteam^S0ONCALL>", "<@U0BOB>")


def step(old: str, new: str, minute: int, *, error: str = "", **fields: object) -> Transition:
    ready = {"ACTIVE": 3, "PARTIALLYDEPLOYED": 1}.get(new, 0)
    errors = ((100, error),) if error else ()
    snapshot = Snapshot(name="my-instance", status=new, ready=ready, total=3, min_ready=1, errors=errors)
    values: dict[str, object] = {"snapshot": snapshot, "episode": 1}
    values.update(fields)
    at = T0 + timedelta(minutes=minute)
    return Transition(1, "my-instance", AlertKind.CHANGED, at, old, new, **values)  # type: ignore[arg-type]


OOM = "OOMKilled: container <@U0EVE> exceeded its memory limit of 16Gi"
ROLLOUT = [
    step("ACTIVE", "DEPLOYING", 0),
    step("DEPLOYING", "PARTIALLYDEPLOYED", 1, error=OOM, problem=True),
    step("PARTIALLYDEPLOYED", "ACTIVE", 4, problem=True, recovery=True),
]
FLIPS = [
    step("ACTIVE", "PARTIALLYDEPLOYED", 0),
    step("PARTIALLYDEPLOYED", "ACTIVE", 1),
    replace(step("ACTIVE", "PARTIALLYDEPLOYED", 2), kind=AlertKind.FLAPPING, flap_count=5, problem=True),
]
LONG = [step(*(("ACTIVE", "DEPLOYING") if i % 2 == 0 else ("DEPLOYING", "ACTIVE")), i) for i in range(30)]
DELETED = [replace(step("ACTIVE", "ACTIVE", 0), kind=AlertKind.DELETED, new_status=None, problem=True)]

REGIONS = {1: "Luxembourg-2", 2: "Amsterdam"}
SPEC_CHANGES = (
    Change("image", "", "nginx:1.25", "nginx:1.27"),
    Change("region", "1", how="added"),
    Change("scale", "2", "1-3", "2-5"),
    Change("env", "API_URL"),
)
SPEC_ROLLOUT = [
    replace(step("ACTIVE", "ACTIVE", 0), kind=AlertKind.SPEC_CHANGED, changes=SPEC_CHANGES),
    step("ACTIVE", "DEPLOYING", 1),
    step("DEPLOYING", "ACTIVE", 3),
]

TIMELINES = {
    "spec_rollout": render_timeline(SPEC_ROLLOUT, stuck_after_seconds=900, regions=REGIONS),
    "rollout": render_timeline(ROLLOUT, stuck_after_seconds=900),
    "failing": render_timeline(ROLLOUT[:2], stuck_after_seconds=900, mentions=ONCALL),
    "flapping": render_timeline(FLIPS, stuck_after_seconds=900),
    "long": render_timeline(LONG, stuck_after_seconds=900),
    "deleted": render_timeline(DELETED, stuck_after_seconds=900),
}


@pytest.mark.parametrize("case", sorted(TIMELINES))
def test_timeline_golden(case: str) -> None:
    message = TIMELINES[case]
    assert not limit_problems(message.blocks, message.text)
    check_golden(f"timeline_{case}", {"text": message.text, "blocks": message.blocks})


def test_a_timeline_keeps_every_step_and_says_how_it_went() -> None:
    text = all_text(TIMELINES["rollout"].blocks)
    assert text.startswith("✅ *my-instance* is 🟢 Active · 3/3 ready")
    assert "🟢 Active → 🔵 Deploying" in text and "🟡 Partially deployed → 🟢 Active" in text
    assert "&lt;@U0EVE&gt;" in text and "<@U0EVE>" not in text  # a mention inside an error cannot fire
    assert "✅ recovered after 4 min" in text
    assert "🚨 still failing after 1 min" in all_text(TIMELINES["failing"].blocks)
    assert "✅ rolled out in 3 min" in all_text(
        render_timeline([*ROLLOUT[:1], step("DEPLOYING", "ACTIVE", 3)], stuck_after_seconds=900).blocks
    )


def test_a_long_timeline_keeps_its_first_and_latest_steps() -> None:
    lines = TIMELINES["long"].blocks[1]["text"]["text"].split("\n")
    assert len(lines) == MAX_STEPS_SHOWN
    assert "12:00" in lines[0] and "more steps in the thread" in lines[1] and "12:29" in lines[-1]


def test_owners_are_named_only_where_asked() -> None:
    assert all(m in TIMELINES["failing"].text for m in ONCALL)
    assert not any(m in TIMELINES["rollout"].text + all_text(TIMELINES["rollout"].blocks) for m in ONCALL)
    alert = render_alert(ROLLOUT[1], stuck_after_seconds=900, with_buttons=False, mentions=ONCALL)
    check_golden("alert_failing_owners", {"text": alert.text, "blocks": alert.blocks})


def test_sleep_digest_golden() -> None:
    naps = [
        replace(step(old, new, minute), episode=0)
        for minute, (old, new) in enumerate([("ACTIVE", "PENDING"), ("PENDING", "ACTIVE")] * 3)
    ]
    digest: Message = render_sleep_digest(naps)
    assert "slept 3× today · now ☀️ awake" in digest.text
    assert not limit_problems(digest.blocks, digest.text)
    check_golden("sleep_digest", {"text": digest.text, "blocks": digest.blocks})


def test_unwatch_choice_golden() -> None:
    choice = render_unwatch_choice(DeploymentRef(project_id=1, name="my-instance"))
    buttons = choice.blocks[1]["elements"]
    assert all(b["confirm"]["style"] == "danger" for b in buttons)
    check_golden("unwatch_choice", {"text": choice.text, "blocks": choice.blocks})


def test_a_timeline_over_slacks_limit_drops_middle_steps_never_the_newest() -> None:
    noisy = [step("ACTIVE", "PARTIALLYDEPLOYED", i, error="<" * 200, problem=True) for i in range(12)]
    message = render_timeline(noisy, stuck_after_seconds=900)
    steps = message.blocks[1]["text"]["text"]
    assert len(steps) <= 3000 and not limit_problems(message.blocks, message.text)
    assert steps.split("\n")[-1].startswith("<!date^" + str(int(noisy[-1].at.timestamp())))
    assert "more steps in the thread" in steps
