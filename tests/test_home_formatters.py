"""The Home tab as a person reads it, through golden files, and within Slack's limits however much is
watched."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.actions import ActionId, CardRef, DeploymentRef
from bot.watch.subscriptions import WatchedDeployment
from bot.watch.transitions import Snapshot
from formatters.home import render_home
from tests.blockkit import all_text, limit_problems
from tests.test_formatters import check_golden

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
PORTAL = "https://portal.gcore.com/cloud/{project_id}/inference/deployments/{name}"
REGIONS = {7: "Frankfurt"}


def watched(
    name: str,
    status: str | None,
    ready: int = 3,
    total: int = 3,
    *,
    project_id: int = 1,
    channels: tuple[str, ...] = ("C0OPS",),
    min_ready: int = 1,
    errors: tuple[tuple[int, str], ...] = (),
) -> WatchedDeployment:
    snapshot = None
    if status is not None:
        snapshot = Snapshot(name, status, ready=ready, total=total, min_ready=min_ready, errors=errors)
    return WatchedDeployment(project_id=project_id, name=name, channels=channels, snapshot=snapshot)


WORKSPACE = [
    watched("chat-frontend", "ACTIVE", channels=("C0OPS", "C0ML")),
    watched("embedder", "DISABLED", 0, 0),
    watched("llama-70b", "PARTIALLYDEPLOYED", 1, 3, errors=((7, "<!here> OOMKilled: memory limit 32Gi"),)),
    watched("whisper", "ACTIVE", 1, 4, min_ready=2),
    watched("new-one", None, channels=("C0ML",)),
    watched("ranker", "DEPLOYING", 0, 2, project_id=2, channels=("C0SEARCH",)),
    watched("sleepy", "PENDING", 0, 0, project_id=2, channels=("C0SEARCH",)),
]


def view_problems(view: dict[str, Any]) -> list[str]:
    """Slack's limits on a Home tab view: 100 blocks, unique block ids, each block's own limits (action ids
    need only be unique within their block)."""
    blocks = view["blocks"]
    problems = [p for block in blocks for p in limit_problems([block], max_blocks=100)]
    if len(blocks) > 100:
        problems.append(f"{len(blocks)} blocks, over 100")
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(ids) != len(set(ids)):
        problems.append("repeated block_id")
    if view["type"] != "home":
        problems.append(f"a {view['type']} view")
    return problems


def buttons(view: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """The buttons of a deployment's row (View details beside its line, the others below), by action id."""
    blocks = view["blocks"]
    for i, block in enumerate(blocks):
        details = block.get("accessory") or {}
        if details.get("action_id") == ActionId.DETAILS and json.loads(details["value"])["name"] == name:
            below = blocks[i + 1] if i + 1 < len(blocks) else {}
            others = below.get("elements", []) if below.get("block_id", "").endswith(f":{name}") else []
            return {e["action_id"]: e for e in [details, *others]}
    raise AssertionError(f"no row for {name}")


def test_home_of_an_operator_golden() -> None:
    view = render_home(WORKSPACE, now=NOW, operator=True, portal_url=PORTAL, regions=REGIONS)
    assert not view_problems(view)
    check_golden("home_operator", view)


def test_home_of_someone_else_golden() -> None:
    view = render_home(WORKSPACE, now=NOW, regions=REGIONS)
    assert not view_problems(view)
    check_golden("home_member", view)


def test_home_with_nothing_watched_says_how_to_watch() -> None:
    view = render_home([], now=NOW)
    assert not view_problems(view)
    assert "/inference watch" in all_text(view["blocks"])
    check_golden("home_empty", view)


def test_projects_in_order_problems_first_within_each() -> None:
    text = all_text(render_home(WORKSPACE, now=NOW)["blocks"])
    order = ["Project 1", "llama-70b", "whisper", "chat-frontend", "embedder", "new-one", "Project 2"]
    order += ["ranker", "sleepy"]
    positions = [text.index(word) for word in order]
    assert positions == sorted(positions)
    assert "&lt;!here&gt; OOMKilled" in text and "<!here>" not in text
    assert "Watched in <#C0OPS>, <#C0ML>" in text


def test_stop_for_what_serves_or_rolls_out_start_for_what_is_stopped_only_for_operators() -> None:
    view = render_home(WORKSPACE, now=NOW, operator=True, portal_url=PORTAL)
    for name in ("chat-frontend", "llama-70b", "whisper", "ranker", "sleepy"):
        stop = buttons(view, name)[ActionId.STOP_DEPLOYMENT]
        project_id = 2 if name in ("ranker", "sleepy") else 1
        assert DeploymentRef.model_validate_json(stop["value"]) == DeploymentRef(
            project_id=project_id, name=name
        )
        assert ActionId.START_DEPLOYMENT not in buttons(view, name)
    assert set(buttons(view, "embedder")) == {
        ActionId.DETAILS,
        ActionId.OPEN_PORTAL,
        ActionId.START_DEPLOYMENT,
    }
    assert set(buttons(view, "new-one")) == {ActionId.DETAILS, ActionId.OPEN_PORTAL}
    details = buttons(view, "llama-70b")[ActionId.DETAILS]
    assert CardRef.model_validate_json(details["value"]) == CardRef(project_id=1, name="llama-70b")
    plain = render_home(WORKSPACE, now=NOW)
    assert all(set(buttons(plain, d.name)) == {ActionId.DETAILS} for d in WORKSPACE)


def test_the_time_is_the_only_difference_a_clock_makes() -> None:
    # What a digest is taken of (no time) is each clock's view with its updated line taken out, so the
    # digest of the view published at any time is the same.
    timeless = render_home(WORKSPACE, now=None)
    assert "Updated" not in all_text(timeless["blocks"])
    for now in (NOW, datetime(2025, 3, 14, 10, 0, tzinfo=UTC)):
        view = render_home(WORKSPACE, now=now)
        summary = view["blocks"][1]["elements"][0]
        summary["text"], _, updated = summary["text"].rpartition(" · ")
        assert updated.startswith(f"Updated <!date^{int(now.timestamp())}^")
        assert view == timeless
    empty = render_home([], now=NOW)["blocks"]
    assert "Updated" in all_text(empty[-1:]) and empty[:-1] == render_home([], now=None)["blocks"]


def test_past_a_hundred_blocks_problems_stay_and_the_rest_are_counted() -> None:
    crowd = [watched(f"healthy-{i:03}", "ACTIVE", project_id=1 + i % 3) for i in range(150)]
    crowd += [watched(f"broken-{i}", "PARTIALLYDEPLOYED", 0, 2, errors=((1, "boom"),)) for i in range(6)]
    view = render_home(crowd, now=NOW, operator=True, portal_url=PORTAL)
    assert not view_problems(view)
    assert len(view["blocks"]) <= 100
    text = all_text(view["blocks"])
    assert all(f"broken-{i}" in text for i in range(6))
    shown = sum(1 for b in view["blocks"] if "accessory" in b)
    assert f"…and {156 - shown} more watched deployments, none needing attention" in text
    assert "156 deployments watched in 3 projects · ⚠️ 6 need attention" in text
    # What is shown fills the view: one more would not fit.
    assert len(view["blocks"]) >= 100 - 2
