"""Stop and Start in words: the confirmation, the buttons on cards and problem alerts, the audit trail,
and who an episode's timeline names. Goldens are reviewed payloads; no API string becomes a mention."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.actions import OperationRef
from bot.audit import AuditEntry, AuditResult, Operation
from bot.history import EpisodeActor
from bot.watch.transitions import AlertKind, Snapshot, Transition
from formatters.alerts import render_alert
from formatters.audit import render_audit
from formatters.deployment import render_deployment_card
from formatters.operations import (
    effect,
    recently_done,
    render_operation_confirmation,
    render_operation_done,
    render_operation_notice,
)
from formatters.text import user_mention
from formatters.timeline import actor_words
from tests.blockkit import all_text, limit_problems
from tests.test_formatters import NAMES, NOW, PORTAL, check_golden, deployment

KEY = "0123456789abcdef0123456789abcdef"


def ref(action: str = "stop") -> OperationRef:
    return OperationRef(project_id=1, name="my-instance", action=action, key=KEY, channel_id="C0OPS")


def labels(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_stop_confirmation_golden() -> None:
    view = render_operation_confirmation(deployment(), ref(), NAMES)
    check_golden("operation_confirm_stop", view)
    assert len(view["private_metadata"]) < 3000
    assert OperationRef.model_validate_json(view["private_metadata"]) == ref()


def test_start_confirmation_golden() -> None:
    view = render_operation_confirmation(deployment(status="DISABLED"), ref("start"), NAMES)
    check_golden("operation_confirm_start", view)


def test_a_confirmation_that_does_not_apply_offers_nothing_to_submit() -> None:
    view = render_operation_confirmation(deployment(status="DISABLED"), ref("stop"), NAMES)
    assert "submit" not in view and "private_metadata" not in view
    assert "already stopped" in all_text(view["blocks"])
    view = render_operation_confirmation(deployment(status="DELETING"), ref("start"), NAMES)
    assert "neither stopped nor started" in all_text(view["blocks"])


def test_the_effect_names_each_regions_minimum_when_they_differ() -> None:
    containers = [
        {"region_id": 1, "deploy_status": {"ready": 2, "total": 2}, "scale": {"min": 2, "max": 4}},
        {"region_id": 100, "deploy_status": {"ready": 1, "total": 1}, "scale": {"min": 1, "max": 2}},
    ]
    words = effect(deployment(containers=containers), Operation.STOP, NAMES)
    assert "It serves 3 ready replicas in Amsterdam, Luxembourg-2 now; they stop, and requests fail" in words
    assert "scale.min = 2 in Luxembourg-2, 1 in Amsterdam" in words


def test_stopping_what_is_scaled_to_zero_says_it_no_longer_wakes() -> None:
    words = effect(deployment(status="PENDING"), Operation.STOP, NAMES)
    assert (
        "It is scaled to zero in Luxembourg-2 now and wakes on the next request; stopped, it no longer wakes, "
        "and requests fail until it is started again."
    ) in words


def test_card_with_operators_golden() -> None:
    card = render_deployment_card(
        deployment(), NOW, watching=False, regions=NAMES, portal_url=PORTAL, operate=True
    )
    check_golden("card_seed_operate", {"text": card.text, "blocks": card.blocks})
    assert not limit_problems(card.blocks)
    assert "Stop" in labels(card.blocks)
    stopped = render_deployment_card(deployment(status="DISABLED"), NOW, operate=True)
    assert "Start" in labels(stopped.blocks) and "Stop" not in labels(stopped.blocks)
    assert "Stop" not in labels(render_deployment_card(deployment(), NOW).blocks)


def failing_transition() -> Transition:
    snapshot = Snapshot(
        name="my-instance",
        status="PARTIALLYDEPLOYED",
        ready=0,
        total=3,
        min_ready=1,
        errors=((1, "ImagePullBackOff"),),
    )
    return Transition(
        project_id=1,
        name="my-instance",
        kind=AlertKind.CHANGED,
        at=NOW,
        old_status="ACTIVE",
        new_status="PARTIALLYDEPLOYED",
        snapshot=snapshot,
        problem=True,
    )


def test_problem_alert_with_operators_golden() -> None:
    alert = render_alert(failing_transition(), stuck_after_seconds=900, regions=NAMES, operate=True)
    check_golden("alert_failing_operate", {"text": alert.text, "blocks": alert.blocks})
    assert labels(alert.blocks)[:3] == ["Card", "Logs", "Stop"]
    assert "Stop" not in labels(render_alert(failing_transition(), stuck_after_seconds=900).blocks)


def test_audit_trail_golden() -> None:
    at = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)

    def entry(
        minutes: int, result: AuditResult, detail: str | None = None, user: str = "U0ALICE"
    ) -> AuditEntry:
        return AuditEntry(
            at=at - timedelta(minutes=minutes),
            user_id=user,
            action=Operation.STOP,
            project_id=1,
            name="my-instance",
            result=result,
            detail=detail,
        )

    message = render_audit(
        [
            entry(0, AuditResult.DONE),
            entry(3, AuditResult.FAILED, "http:500"),
            entry(5, AuditResult.REFUSED, "not_operator", "U0BOB"),
            entry(7, AuditResult.REFUSED, "external_user", "U0EVE"),
        ]
    )
    check_golden("audit_trail", {"text": message.text, "blocks": message.blocks})
    assert not limit_problems(message.blocks)
    assert "No start or stop of `my-instance` has been asked for yet." in render_audit([], "my-instance").text


def test_only_a_slack_user_id_becomes_a_mention() -> None:
    assert user_mention("U0ALICE") == "<@U0ALICE>"
    assert user_mention("<@U0BOSS>") == "&lt;@U0BOSS&gt;"
    assert user_mention("U0ALICE\n") == "U0ALICE\n"
    from_gcore = EpisodeActor(who="<@U0BOSS> @here", action="stop", at=NOW)
    assert "<@" not in actor_words(from_gcore) and "@here" not in actor_words(from_gcore)
    from_slack = EpisodeActor(who="U0ALICE", action="stop", at=NOW, in_slack=True)
    assert actor_words(from_slack).startswith("stopped by <@U0ALICE> in Slack at ")


def test_done_message_mentions_the_operator() -> None:
    done = render_operation_done("U0ALICE", Operation.STOP, "my-instance", 1)
    assert done.text == "<@U0ALICE> stopped *my-instance*"


# Alice's stop a minute before NOW, whose answer was lost.
LOST = AuditEntry(
    at=NOW - timedelta(minutes=1),
    user_id="U0ALICE",
    action=Operation.STOP,
    project_id=1,
    name="my-instance",
    result=AuditResult.UNKNOWN,
    detail="http:502",
)


def test_an_action_whose_answer_was_lost_is_unknown_in_the_audit_and_a_long_name_is_cut() -> None:
    lost = LOST
    line = all_text(render_audit([lost]).blocks)
    assert "stop *my-instance* (project 1) · ❓ unknown: Gcore's answer was lost (HTTP 502)" in line
    assert "failed" not in line
    silent = all_text(render_audit([replace(lost, detail="no_answer")]).blocks)
    assert "❓ unknown: Gcore's answer was lost (none came)" in silent
    old = replace(lost, name="x" * 5000, result=AuditResult.DONE, detail=None)
    message = render_audit([old])
    assert not limit_problems(message.blocks)
    assert "x" * 64 not in all_text(message.blocks) and "x" * 60 in all_text(message.blocks)


def test_a_second_action_is_refused_naming_what_became_of_the_first() -> None:
    first = LOST
    lost = recently_done(first, NOW)
    assert lost.startswith("<@U0ALICE> asked Gcore to stop *my-instance* at ")
    assert "its answer was lost: `/inference status my-instance` shows whether it did" in lost
    assert "so I did not ask Gcore again" in lost
    pending = recently_done(replace(first, result=AuditResult.PENDING), NOW)
    assert "and it has not answered yet" in pending
    done = recently_done(replace(first, result=AuditResult.DONE), NOW)
    assert done.startswith("<@U0ALICE> already stopped *my-instance* at ")


def test_a_confirmation_that_cannot_be_read_has_a_neutral_title() -> None:
    assert render_operation_notice(None, "stale")["title"]["text"] == "Stop or start"
    assert render_operation_notice(Operation.START, "x")["title"]["text"] == "Start deployment"
