"""Alerts and subscription replies, rendered for every kind of transition and read through golden files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.actions import ActionId, DeploymentRef
from bot.watch.specs import Change
from bot.watch.subscriptions import SubscribeOutcome, Subscription
from bot.watch.transitions import AlertKind, Snapshot, Transition
from formatters.alerts import render_alert, render_compact_alert, render_paused_notice, render_resumed_notice
from formatters.subscriptions import render_watch_result, render_watching
from tests.blockkit import all_text, limit_problems
from tests.test_formatters import check_golden

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ERRORS = ((1, "Back-off pulling image <registry>/model:v2"),)


def transition(kind: AlertKind, old: str | None, new: str | None, **fields: object) -> Transition:
    status = new or old or "ACTIVE"
    ready = 0 if status in ("PARTIALLYDEPLOYED", "PENDING", "DEPLOYING") else 2
    errors = ERRORS if status == "PARTIALLYDEPLOYED" else ()
    snapshot = Snapshot(name="my-instance", status=status, ready=ready, total=2, min_ready=1, errors=errors)
    values: dict[str, object] = {"snapshot": snapshot, "episode": 1}
    values.update(fields)
    return Transition(1, "my-instance", kind, AT, old, new, **values)  # type: ignore[arg-type]


CASES = {
    "changed": transition(AlertKind.CHANGED, "ACTIVE", "DEPLOYING"),
    "failing": transition(AlertKind.CHANGED, "DEPLOYING", "PARTIALLYDEPLOYED", problem=True),
    "recovered": transition(AlertKind.CHANGED, "PARTIALLYDEPLOYED", "ACTIVE", problem=True, recovery=True),
    "sleeping": transition(AlertKind.CHANGED, "ACTIVE", "PENDING"),
    "woke": transition(AlertKind.CHANGED, "PENDING", "ACTIVE"),
    "created": transition(AlertKind.CREATED, None, "DEPLOYING"),
    "stuck": transition(
        AlertKind.STUCK, "PARTIALLYDEPLOYED", "PARTIALLYDEPLOYED", problem=True, offline=True
    ),
    "degraded": transition(
        AlertKind.DEGRADED,
        "ACTIVE",
        "ACTIVE",
        problem=True,
        snapshot=Snapshot(name="my-instance", status="ACTIVE", ready=1, total=3, min_ready=2),
    ),
    "deleted": transition(AlertKind.DELETED, "ACTIVE", None, problem=True),
    "flapping": transition(AlertKind.FLAPPING, "ACTIVE", "PARTIALLYDEPLOYED", problem=True, flap_count=5),
    "unreachable": Transition(
        1,
        "",
        AlertKind.GCORE_UNREACHABLE,
        AT,
        problem=True,
        detail="auth:401",
        since=AT - timedelta(minutes=2),
    ),
    "reachable": Transition(
        1, "", AlertKind.GCORE_REACHABLE, AT, problem=True, since=AT - timedelta(hours=2, minutes=5)
    ),
}


SPEC_CHANGES = (
    Change("image", "", "nginx:1.25", "nginx:1.27"),
    Change("region", "3", how="removed"),
    Change("scale", "1", "1-3", "2-5"),
    Change("auth", "", "off", "on"),
    Change("command"),
    Change("probe", "liveness", "http /healthz :80 · every 5s", "http /ready :80 · every 5s"),
    Change("env", "API_URL"),
    Change("env", "NEW_FLAG", how="added"),
)
SPEC_CASES = {
    "spec_changed": transition(AlertKind.SPEC_CHANGED, "ACTIVE", "ACTIVE", changes=SPEC_CHANGES[:3]),
    "changed_with_spec": transition(AlertKind.CHANGED, "ACTIVE", "DEPLOYING", changes=SPEC_CHANGES),
}


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_spec_change_golden(case: str) -> None:
    alert = render_alert(
        SPEC_CASES[case], stuck_after_seconds=900, regions={1: "Luxembourg-2", 3: "Amsterdam"}
    )
    assert not limit_problems(alert.blocks, alert.text)
    assert "nginx:1.25" in all_text(alert.blocks) and "nginx:1.27" in all_text(alert.blocks)
    check_golden(f"alert_{case}", {"text": alert.text, "blocks": alert.blocks})


@pytest.mark.parametrize("case", sorted(CASES))
def test_alert_golden(case: str) -> None:
    alert = render_alert(CASES[case], stuck_after_seconds=900)
    assert not limit_problems(alert.blocks, alert.text)
    check_golden(f"alert_{case}", {"text": alert.text, "blocks": alert.blocks})


def test_routine_changes_are_calm_and_problems_loud() -> None:
    def headline(case: str) -> str:
        return render_alert(CASES[case], stuck_after_seconds=900).text

    assert headline("sleeping").startswith("💤") and headline("woke").startswith("☀️")
    assert headline("failing").startswith("🚨") and headline("recovered").startswith("✅")
    assert "🚨" not in headline("changed")


def test_alert_escapes_api_text_and_offers_refresh_and_unwatch() -> None:
    alert = render_alert(CASES["failing"], stuck_after_seconds=900)
    text = all_text(alert.blocks)
    assert "&lt;registry&gt;" in text and "<registry>" not in text
    buttons = alert.blocks[-1]["elements"]
    assert [b["action_id"] for b in buttons] == [
        ActionId.ALERT_REFRESH,
        ActionId.SHOW_LOGS,
        ActionId.UNWATCH_DEPLOYMENT,
    ]
    for card_or_logs in buttons[:2]:
        assert DeploymentRef.model_validate_json(card_or_logs["value"]) == DeploymentRef(
            project_id=1, name="my-instance"
        )


def test_compact_alert_keeps_deployment_transition_and_time_only() -> None:
    full = render_alert(CASES["failing"], stuck_after_seconds=900)
    compact = render_compact_alert(CASES["failing"], stuck_after_seconds=900)
    assert compact.text == full.text
    assert not limit_problems(compact.blocks, compact.text)
    assert len(json.dumps(compact.blocks)) < len(json.dumps(full.blocks)) / 2
    check_golden("alert_compact", {"text": compact.text, "blocks": compact.blocks})


def test_parent_and_thread_variants() -> None:
    parent = render_alert(CASES["recovered"], stuck_after_seconds=900, as_parent=True)
    assert "every step is in the thread" in all_text(parent.blocks)
    reply = render_alert(CASES["recovered"], stuck_after_seconds=900, with_buttons=False)
    assert all(block["type"] != "actions" for block in reply.blocks)


def subscription(**fields: object) -> Subscription:
    values: dict[str, object] = {
        "id": 3,
        "channel_id": "C0OPS",
        "project_id": 1,
        "target": "my-instance",
        "only_problems": False,
        "flat": False,
        "created_by": "U0ALICE",
        "created_at": AT,
        "paused_reason": None,
    }
    values.update(fields)
    return Subscription(**values)  # type: ignore[arg-type]


def test_subscription_replies() -> None:
    created = render_watch_result(subscription(), SubscribeOutcome.CREATED, "U0ALICE")
    assert created.text.startswith("👀 <@U0ALICE> is watching `my-instance` (project 1) in this channel")
    listing = render_watching(
        [
            subscription(notify=("<!subteam^S0ONCALL>", "<@U0BOB>")),
            subscription(id=4, target="*", only_problems=True, paused_reason="is_archived"),
            subscription(id=5, target="other-one", paused_reason="weird_<!here>_reason"),
        ]
    )
    assert not limit_problems(listing.blocks, listing.text)
    check_golden("watching", {"text": listing.text, "blocks": listing.blocks})
    notice = render_paused_notice("C0OPS", [subscription()], "not_in_channel", recheck_seconds=3600)
    assert "I was removed from the channel" in notice.text
    assert "resume them by myself within the hour" in notice.text
    resumed = render_resumed_notice("C0OPS", [subscription(), subscription(id=4, target="*")])
    assert resumed.text == (
        "I can post in <#C0OPS> again, so alerts for `my-instance`, all deployments are back on there."
    )
