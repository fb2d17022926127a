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


def check_golden(name: str, payload: Any) -> None:
    path = GOLDEN / f"{name}.json"
    rendered = json.dumps(payload, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    if UPDATE_GOLDEN:
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    assert rendered == path.read_text(encoding="utf-8")


def deployment(**overrides: Any) -> Deployment:
    return Deployment.model_validate(seed_deployment(**overrides))


def adversarial(containers: int = 50) -> Deployment:
    container = {
        "region_id": 7,
        "deploy_status": {"ready": 0, "total": 4},
        "scale": {
            "min": 1,
            "max": 4,
            "cooldown_period": 30,
            "triggers": {"gpu_utilization": {"threshold": 90}},
        },
        "error_message": "<!channel> ImagePullBackOff " + "x" * 3000,
    }
    return deployment(
        name="big-one",
        status="PARTIALLYDEPLOYED",
        description="<!channel> deploy done @here <https://evil.example|click> " + "d" * 10_000,
        containers=[container] * containers,
        image="registry.example/" + "i" * 5000,
        command="sh -c 'echo <@U123>'" * 200,
    )


def test_seed_card_golden() -> None:
    card = render_deployment_card(deployment(), NOW)
    check_golden("card_seed", {"text": card.text, "blocks": card.blocks})


def test_seed_details_golden() -> None:
    check_golden("details_seed", render_deployment_details(deployment()))


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
    assert set(buttons) == {ActionId.REFRESH, ActionId.SHARE, ActionId.DETAILS}
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


def test_fifty_containers_all_shown_errors_capped() -> None:
    card = render_deployment_card(adversarial(), NOW)
    text = all_text(card.blocks)
    assert "*Containers* · 50 regions" in text
    assert text.count("*Region 7*  `▱▱▱▱▱▱▱▱▱▱` 0/4 ready") == 50
    assert "⚠️ *50 containers reporting an error*" in text
    assert "…and 45 more in *View details*" in text


def test_more_containers_than_fit_are_cut_with_a_visible_count() -> None:
    d = adversarial(containers=300)
    card = render_deployment_card(d, NOW)
    assert not limit_problems(card.blocks, card.text)
    text = all_text(card.blocks)
    shown = text.count("*Region 7*  `")
    assert 0 < shown < 300
    assert f"…and {300 - shown} more regions, listed in *View details*" in text
    details = render_deployment_details(d)
    assert not limit_problems(details["blocks"], max_blocks=100)


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
    assert "Startup: off" in text
    assert not limit_problems(card.blocks, card.text)
    check_golden("card_bare", {"text": card.text, "blocks": card.blocks})


def test_unknown_status_still_renders() -> None:
    card = render_deployment_card(deployment(status="HIBERNATING"), NOW)
    assert card.blocks[0]["text"]["text"] == "❔ my-instance"
    assert "Unknown (`HIBERNATING`)" in all_text(card.blocks)


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
    first = render_deployment_list(deployments, 1, 0, NOW)
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
