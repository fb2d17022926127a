"""The card, details modal, list and help, rendered from the seed and from adversarial deployments."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.actions import ActionId, CardRef, ListPage
from bot.gcore.models import Deployment
from formatters.deployment import render_deployment_card, render_deployment_details
from formatters.flavor import describe_flavor
from formatters.help import render_help
from formatters.listing import render_deployment_list
from formatters.text import escape_mrkdwn, truncate
from tests.blockkit import all_text, limit_problems
from tests.fakes.gcore import seed_deployment

NOW = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
GOLDEN = Path(__file__).parent / "golden"
# `UPDATE_GOLDEN=1 uv run pytest tests/test_formatters.py` rewrites the golden files; review their diff.
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
NAMES = {1: "Luxembourg-2", 100: "Amsterdam"}
PORTAL = "https://portal.example/cloud/{project_id}/inference/{name}"


def check_golden(name: str, payload: Any) -> None:
    path = GOLDEN / f"{name}.json"
    rendered = json.dumps(payload, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    if UPDATE_GOLDEN:
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    assert rendered == path.read_text(encoding="utf-8")


def deployment(**overrides: Any) -> Deployment:
    return Deployment.model_validate(seed_deployment(**overrides))


def adversarial(containers: int = 50, *, distinct_errors: bool = False) -> Deployment:
    def container(region_id: int) -> dict[str, Any]:
        error = f"region {region_id} " if distinct_errors else ""
        return {
            "region_id": region_id,
            "deploy_status": {"ready": 0, "total": 4},
            "scale": {
                "min": 1,
                "max": 4,
                "cooldown_period": 30,
                "triggers": {"gpu_utilization": {"threshold": 90}},
            },
            "error_message": f"<!channel> ImagePullBackOff {error}" + "x" * 3000,
        }

    return deployment(
        name="big-one",
        status="PARTIALLYDEPLOYED",
        description="<!channel> deploy done @here <https://evil.example|click> " + "d" * 10_000,
        containers=[container(7 + i) for i in range(containers)],
        image="registry.example/" + "i" * 5000,
        command="sh -c 'echo <@U123>'" * 200,
    )


def test_seed_card_golden() -> None:
    card = render_deployment_card(deployment(), NOW, watching=False, regions=NAMES, portal_url=PORTAL)
    check_golden("card_seed", {"text": card.text, "blocks": card.blocks})


def test_seed_details_golden() -> None:
    check_golden("details_seed", render_deployment_details(deployment(), NAMES))


def test_card_reads_as_a_person_needs() -> None:
    card = render_deployment_card(deployment(), NOW)
    text = all_text(card.blocks)
    assert card.blocks[0]["text"]["text"] == "🟢 my-instance"
    assert "Running and ready to accept requests." in text
    assert "16 vCPU · 232 GiB · 1× H100 80 GB" in text
    assert "1/3 ready" in text
    assert "<!date^1692703260^" in text  # created time as a Slack date token
    assert "after 2 min without requests" in text
    assert "kept 45 days" in text
    assert "HTTP GET `/healthz` on port 80" in text
    buttons = {e["action_id"]: e for b in card.blocks if b["type"] == "actions" for e in b["elements"]}
    assert set(buttons) == {
        ActionId.REFRESH,
        ActionId.SHARE,
        ActionId.DETAILS,
        ActionId.SHOW_LOGS,
        ActionId.SHOW_HISTORY,
    }
    ref = CardRef.model_validate_json(buttons[ActionId.REFRESH]["value"])
    assert ref == CardRef(project_id=1, name="my-instance")
    assert not limit_problems(card.blocks, card.text)


def test_shared_card_has_no_share_button_and_says_who() -> None:
    card = render_deployment_card(deployment(), NOW, shared_by="U0ALICE")
    action_ids = [e["action_id"] for b in card.blocks if b["type"] == "actions" for e in b["elements"]]
    assert ActionId.SHARE not in action_ids
    assert "shared by <@U0ALICE>" in all_text(card.blocks)


def test_secrets_never_shown() -> None:
    d = deployment(envs={"HF_TOKEN": "hf_supersecret", "DB_PASSWORD": "hunter2"})
    rendered = json.dumps(
        [render_deployment_card(d, NOW).blocks, render_deployment_details(d)], ensure_ascii=False
    )
    for secret in ("hf_supersecret", "hunter2", "Bearer token 123"):
        assert secret not in rendered
    assert "HF_TOKEN" in rendered and "Authorization" in rendered


def test_api_strings_are_escaped_and_cannot_ping() -> None:
    d = adversarial()
    for blocks in (render_deployment_card(d, NOW).blocks, render_deployment_details(d)["blocks"]):
        text = all_text(blocks)
        assert "<!channel>" not in text and "<https://evil" not in text and "<@U123>" not in text
        assert "&lt;!channel&gt;" in text
        assert "@here" not in text  # defused with a zero-width joiner
        assert "@\u2060here" in text


@pytest.mark.parametrize(
    "build", [adversarial, lambda: adversarial(1000), lambda: deployment(containers=[], status="DEPLOYING")]
)
def test_limits_hold_for_any_deployment(build: Any) -> None:
    d = build()
    card = render_deployment_card(d, NOW)
    assert not limit_problems(card.blocks, card.text)
    details = render_deployment_details(d)
    assert not limit_problems(details["blocks"], max_blocks=100)


def test_fifty_regions_with_one_error_read_as_one_line() -> None:
    card = render_deployment_card(adversarial(), NOW)
    text = all_text(card.blocks)
    assert "*50 regions* ·" not in text  # the one line says it
    assert (
        "⚠️ *50 regions:* Region 10, Region 11, Region 12, Region 13, Region 14, … 45 more · 0/200 ready"
        in text
    )
    assert text.count("ImagePullBackOff") == 1
    details = all_text(render_deployment_details(adversarial())["blocks"])
    assert details.count("ImagePullBackOff") == 50
    assert "*Region 7*  `▱▱▱▱▱▱▱▱▱▱` 0/4 ready · 1–4 replicas" in details


def test_more_regions_than_the_card_lists_are_counted() -> None:
    d = adversarial(containers=300, distinct_errors=True)
    card = render_deployment_card(d, NOW)
    assert not limit_problems(card.blocks, card.text)
    text = all_text(card.blocks)
    assert text.count("ImagePullBackOff") == 5
    assert "…and 295 more regions in *View details*" in text
    details = render_deployment_details(d)
    assert not limit_problems(details["blocks"], max_blocks=100)
    shown = all_text(details["blocks"]).count("ImagePullBackOff")
    assert 0 < shown < 300
    assert f"…and {300 - shown} more regions not shown here" in all_text(details["blocks"])


def test_every_optional_field_null() -> None:
    raw = {
        "name": "bare-one",
        "project_id": 3,
        "status": "DEPLOYING",
        "address": None,
        "command": None,
        "containers": [],
        "created_at": None,
        "envs": None,
        "ingress_opts": None,
        "logging": None,
        "probes": None,
        "timeout": None,
        "auth_enabled": False,
        "credentials_name": "",
        "description": "",
        "flavor_name": "",
        "image": "",
        "listening_port": 80,
    }
    d = Deployment.model_validate(raw)
    card = render_deployment_card(d, NOW)
    text = all_text(card.blocks)
    assert "_not assigned yet_" in text
    assert "Startup, readiness, liveness: off" in text
    assert not limit_problems(card.blocks, card.text)
    check_golden("card_bare", {"text": card.text, "blocks": card.blocks})


def test_unknown_status_still_renders() -> None:
    card = render_deployment_card(deployment(status="HIBERNATING"), NOW)
    assert card.blocks[0]["text"]["text"] == "❔ my-instance"
    assert card.blocks[1]["text"]["text"].startswith("*Unknown* · HIBERNATING · 1/3 replicas ready\n")
    assert "Unknown (`HIBERNATING`)" in all_text(
        render_deployment_details(deployment(status="HIBERNATING"))["blocks"]
    )


def test_command_as_string_and_drifted_fields() -> None:
    d = deployment(command="python serve.py --port 8080", brand_new_field={"x": 1})
    assert "`python serve.py --port 8080`" in all_text(render_deployment_card(d, NOW).blocks)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("inference-16vcpu-232gib-1xh100-80gb", "16 vCPU · 232 GiB · 1× H100 80 GB"),
        ("inference-4vcpu-16gib", "4 vCPU · 16 GiB"),
        ("inference-8vcpu-64gib-2xl40s-48gb", "8 vCPU · 64 GiB · 2× L40S 48 GB"),
        ("something-else", None),
    ],
)
def test_flavor_names(name: str, expected: str | None) -> None:
    assert describe_flavor(name) == expected


def test_list_pages_with_buttons() -> None:
    deployments = [deployment(name=f"dep-{i:03d}") for i in range(45)]
    first = render_deployment_list(deployments, 1, 0, NOW, regions=NAMES)
    assert not limit_problems(first.blocks, first.text)
    text = all_text(first.blocks)
    assert "dep-000" in text and "dep-019" in text and "dep-020" not in text
    assert "Page 1 of 3" in text
    pager = first.blocks[-1]
    assert [e["action_id"] for e in pager["elements"]] == [ActionId.LIST_NEXT]
    assert ListPage.model_validate_json(pager["elements"][0]["value"]) == ListPage(project_id=1, page=1)
    last = render_deployment_list(deployments, 1, 2, NOW)
    assert [e["action_id"] for e in last.blocks[-1]["elements"]] == [ActionId.LIST_PREVIOUS]
    assert "dep-044" in all_text(last.blocks)
    check_golden("list_page_1", {"text": first.text, "blocks": first.blocks})


def test_empty_list() -> None:
    message = render_deployment_list([], 5, 0, NOW)
    assert "no deployments yet" in all_text(message.blocks)
    assert message.blocks[-1]["type"] != "actions"


def test_help_names_the_unknown_word_escaped() -> None:
    message = render_help("/inference", 1, unknown="<!here> frobnicate")
    assert "I don't know `&lt;!here&gt; frobnicate`" in all_text(message.blocks)
    check_golden("help", {"text": message.text, "blocks": message.blocks})


def test_truncate_keeps_entities_whole() -> None:
    escaped = escape_mrkdwn("a" * 8 + "<b>")
    assert truncate(escaped, 11) == "a" * 8 + "…"
    assert len(truncate("x" * 5000, 3000)) == 3000


# -- a card read in two seconds ---------------------------------------------------------------------------


def visible_lines(blocks: list[dict[str, Any]]) -> int:
    """Lines a person reads: a header, an actions row or a context element is one; a section's text its
    lines; two-column fields a row per pair, as tall as the taller."""
    lines = 0
    for block in blocks:
        if block["type"] in ("header", "actions", "divider"):
            lines += 1
        elif block["type"] == "context":
            lines += len(block["elements"])
        elif block["type"] == "section":
            if "text" in block:
                lines += block["text"]["text"].count("\n") + 1
            heights = [f["text"].count("\n") + 1 for f in block.get("fields", [])]
            lines += sum(max(heights[i : i + 2]) for i in range(0, len(heights), 2))
    return lines


def region(
    region_id: int, ready: int, total: int, *, low: int = 1, high: int = 3, error: str | None = None
) -> Any:
    return {
        "region_id": region_id,
        "deploy_status": {"ready": ready, "total": total},
        "scale": {"min": low, "max": high, "cooldown_period": 60, "triggers": {"cpu": {"threshold": 80}}},
        "error_message": error,
    }


def forty_regions() -> tuple[Deployment, dict[int, str]]:
    """Forty regions: one error in three of them, another in one, two below their minimum, one short, and
    the rest healthy in two kinds of settings."""
    containers = [region(i, 0, 2, error="ImagePullBackOff: pull access denied") for i in (3, 4, 5)]
    containers.append(region(6, 1, 2, error="OOMKilled"))
    containers += [region(i, 0, 2, low=2) for i in (7, 8)]
    containers.append(region(9, 1, 2))
    containers += [region(i, 2, 2) for i in range(10, 35)]
    containers += [region(i, 1, 1, low=1, high=1) for i in range(35, 43)]
    names = {i: f"Region-{i:02d}" for i in range(3, 43)}
    names[100] = "Amsterdam"
    assert len(containers) == 40
    return deployment(status="PARTIALLYDEPLOYED", containers=containers), names


def test_first_line_is_status_raw_name_ready_and_since() -> None:
    since = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
    d = deployment(status="PENDING", containers=[region(1, 0, 0, low=0)])
    card = render_deployment_card(d, NOW, since=since, regions=NAMES)
    first = card.blocks[1]["text"]["text"].splitlines()[0]
    assert first == (
        "*Scaled to zero* · PENDING · 0/0 replicas ready · since "
        "<!date^1795717800^{date_short_pretty} at {time}|2026-11-26 18:30 UTC>"
    )
    assert "💤 *Luxembourg-2* at zero · 0–3 replicas" in all_text(card.blocks)
    # Without a since-time, none is made up.
    assert "since" not in render_deployment_card(d, NOW).blocks[1]["text"]["text"]


def test_regions_by_name_escaped_or_by_id() -> None:
    text = all_text(render_deployment_card(deployment(), NOW, regions=NAMES).blocks)
    assert (
        "🟡 *Luxembourg-2* · 1/3 ready · 1–3 replicas · cooldown 1 min · on CPU ≥ 80%, memory ≥ 70%" in text
    )
    assert "to Luxembourg-2" in text  # the logs' destination region
    assert "🟡 *Region 1* · 1/3 ready" in all_text(render_deployment_card(deployment(), NOW).blocks)
    hostile = all_text(render_deployment_card(deployment(), NOW, regions={1: "<!channel> *x*"}).blocks)
    assert "&lt;!channel&gt; *x*" in hostile and "<!channel>" not in hostile
    details = all_text(render_deployment_details(deployment(), NAMES)["blocks"])
    assert "*Luxembourg-2*  `▰▰▰▱▱▱▱▱▱▱` 1/3 ready" in details


def test_errors_and_unhealthy_regions_come_first_and_healthy_ones_collapse() -> None:
    containers = [region(i, 2, 2) for i in (1, 100, 5)] + [region(9, 0, 2, error="OOMKilled")]
    d = deployment(containers=containers)
    lines = (
        render_deployment_card(d, NOW, regions={**NAMES, 5: "Paris"}).blocks[2]["text"]["text"].splitlines()
    )
    assert lines == [
        "*4 regions* · 1 need attention",
        "⚠️ *Region 9* · 0/2 ready · OOMKilled",
        "✅ *3 regions healthy:* Amsterdam, Luxembourg-2, Paris · 6/6 ready · 1–3 replicas · cooldown 1 min"
        " · on CPU ≥ 80%",
    ]


def test_forty_regions_fit_in_about_25_lines() -> None:
    d, names = forty_regions()
    card = render_deployment_card(d, NOW, regions=names, watching=False, portal_url=PORTAL)
    assert not limit_problems(card.blocks, card.text)
    assert visible_lines(card.blocks) <= 25
    regions_text = card.blocks[2]["text"]["text"]
    assert regions_text.splitlines()[0] == "*40 regions* · 7 need attention"
    assert "⚠️ *3 regions:* Region-03, Region-04, Region-05 · 0/6 ready · ImagePullBackOff" in regions_text
    assert "🟠 *2 regions below their minimum:* Region-07, Region-08 · 0/4 ready" in regions_text
    assert (
        "✅ *25 regions healthy:* Region-10, Region-11, Region-12, Region-13, Region-14, … 20 more"
        in regions_text
    )
    assert (
        "✅ *8 regions healthy:* Region-35, Region-36, Region-37, Region-38, Region-39, … 3 more · 8/8 ready · 1 replica ·"
        in regions_text
    )
    assert len(regions_text.splitlines()) == 7
    check_golden("card_forty_regions", {"text": card.text, "blocks": card.blocks})


def test_project_shown_once_and_identical_probes_merge() -> None:
    card = render_deployment_card(deployment(), NOW)
    text = all_text(card.blocks)
    assert text.count("Project 1") == 1
    assert text.count("HTTP GET `/healthz`") == 1
    assert "Startup, readiness, liveness: HTTP GET `/healthz` on port 80" in text
    d = deployment(probes={"liveness_probe": {"enabled": True, "probe": {"tcp_socket": {"port": 81}}}})
    probes = all_text(render_deployment_card(d, NOW).blocks)
    assert "Startup, readiness: off" in probes and "Liveness: TCP port 81" in probes


@pytest.mark.parametrize("status", ["DISABLED", "DELETING"])
def test_no_open_button_for_a_deployment_that_serves_nothing(status: str) -> None:
    card = render_deployment_card(deployment(status=status), NOW)
    assert ActionId.OPEN_ADDRESS not in json.dumps(card.blocks)
    assert "`https://example.com`" in all_text(card.blocks)
    assert ActionId.OPEN_ADDRESS in json.dumps(render_deployment_card(deployment(), NOW).blocks)


def test_open_in_gcore_links_the_deployment() -> None:
    card = render_deployment_card(deployment(name="my-instance"), NOW, portal_url=PORTAL)
    buttons = [e for b in card.blocks if b["type"] == "actions" for e in b["elements"]]
    portal = next(e for e in buttons if e["action_id"] == ActionId.OPEN_PORTAL)
    assert portal["url"] == "https://portal.example/cloud/1/inference/my-instance"
    assert portal["text"]["text"] == "Open in Gcore ↗"
    for template in (None, "", "https://x/{region}", "not a url/{name}"):
        plain_card = render_deployment_card(deployment(), NOW, portal_url=template)
        assert ActionId.OPEN_PORTAL not in json.dumps(plain_card.blocks)


# -- the list: problems first -------------------------------------------------------------------------------


def mixed_project() -> list[Deployment]:
    return [
        deployment(name="alpha-ok", containers=[region(1, 2, 2)]),
        deployment(name="beta-asleep", status="PENDING", containers=[region(1, 0, 0, low=0)]),
        deployment(name="gamma-rolling", status="DEPLOYING", containers=[region(100, 0, 2)]),
        deployment(name="delta-degraded", containers=[region(1, 0, 2)]),
        deployment(
            name="omega-broken",
            status="PARTIALLYDEPLOYED",
            containers=[region(100, 0, 2, error="<!here> CrashLoopBackOff"), region(1, 2, 2)],
        ),
    ]


def test_list_puts_problems_first() -> None:
    message = render_deployment_list(mixed_project(), 1, 0, NOW, regions=NAMES)
    rows = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert [row.split("*")[1] for row in rows] == [
        "omega-broken",
        "delta-degraded",
        "gamma-rolling",
        "alpha-ok",
        "beta-asleep",
    ]
    assert rows[0].endswith("\n⚠️ *Amsterdam:* &lt;!here&gt; CrashLoopBackOff")
    assert "Amsterdam, Luxembourg-2" in rows[0]
    assert rows[1].endswith("\n🟠 degraded: below its minimum of 1 ready replica")
    assert rows[2].endswith("\n⏳ not ready yet in Amsterdam")
    assert "\n" not in rows[3]
    assert "⚠️ 3 need attention" in all_text(message.blocks)
    assert not limit_problems(message.blocks, message.text)


def test_list_problems_shows_only_them_and_pages_keep_the_filter() -> None:
    message = render_deployment_list(mixed_project(), 1, 0, NOW, problems_only=True, regions=NAMES)
    text = all_text(message.blocks)
    assert message.text == "3 of 5 deployments in project 1 need attention"
    assert "alpha-ok" not in text and "beta-asleep" not in text
    assert "Deployments needing attention in project 1" in text
    check_golden("list_problems", {"text": message.text, "blocks": message.blocks})
    many = [deployment(name=f"bad-{i:02d}", status="DEPLOYING") for i in range(25)]
    paged = render_deployment_list([*many, deployment(name="fine")], 1, 0, NOW, problems_only=True)
    pager = paged.blocks[-1]["elements"][0]
    assert ListPage.model_validate_json(pager["value"]) == ListPage(project_id=1, page=1, problems=True)
    calm = render_deployment_list([deployment(name="fine")], 1, 0, NOW, problems_only=True)
    assert "✅ None of the 1 deployment needs attention." in all_text(calm.blocks)
