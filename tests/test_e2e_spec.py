"""What changed: a deployment's spec through the real bot against the fakes: the image named in the alert
of the rollout it starts, a change alone as its own quiet alert, and never an env value or probe header in
a message, a log line or a row."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from tests.blockkit import all_text
from tests.bots import PROJECT, assert_no_secrets
from tests.databases import sqlite_rows
from tests.fakes.gcore import seed_deployment
from tests.test_e2e_watch import LIST_PATH, WatchBot
from tests.test_e2e_watch import watcher as watcher  # the fixture: a watching bot in this process

QUIET = "C0QUIET"


def posted_text(watcher: WatchBot) -> str:
    """Everything the bot sent Slack, edits and replies included."""
    sent = [c.params for c in watcher.slack.calls()] + [p.body for p in watcher.slack.responses()]
    return json.dumps(sent, ensure_ascii=False)


def probes_with_header(value: str) -> dict[str, Any]:
    probes: dict[str, Any] = copy.deepcopy(seed_deployment()["probes"])
    probes["liveness_probe"]["probe"]["http_get"]["headers"] = {"Authorization": value}
    return probes


def test_an_image_change_then_deploying_is_one_alert_naming_both_images(watcher: WatchBot) -> None:
    watcher.gcore.update(PROJECT, "my-instance", image="nginx:1.25")
    watcher.watch()
    seen = watcher.gcore.get(PROJECT, "my-instance")
    assert seen is not None
    image_changed = {"count": 1, "results": [{**seen, "image": "nginx:1.27"}]}

    async def image_change_then_deploying() -> None:
        # The next poll reads the image change alone (an answer the fake stands in with), every poll after
        # it the rollout. Done on the fake's loop, which reads no request between the two, so whatever the
        # interval and however slow the alert, no poll in between sees nothing new: an idle poll would
        # close the image change's episode and the rollout start another.
        watcher.gcore.fail_next(200, body=image_changed, path=LIST_PATH)
        watcher.gcore.update(PROJECT, "my-instance", image="nginx:1.27", status="DEPLOYING")

    watcher.gcore.run_on_loop(image_change_then_deploying())
    (parent,) = watcher.wait_alerts(1)
    (reply,) = watcher.wait_replies(parent["ts"], 1)
    assert "Deploying" in all_text(reply["blocks"])
    text = all_text(watcher.wait_edit(parent["ts"], "Deploying")["blocks"])
    assert "nginx:1.25" in text and "nginx:1.27" in text and "Deploying" in text
    assert len(watcher.alerts()) == 1


def test_a_spec_change_alone_is_a_quiet_alert_that_only_problems_leaves_out(watcher: WatchBot) -> None:
    reply = watcher.bot.reply(watcher.bot.command("watch my-instance --only problems", channel_id=QUIET))
    assert reply.body["response_type"] == "in_channel", reply.body["text"]
    watcher.watch()
    containers = copy.deepcopy(seed_deployment()["containers"])
    containers[0]["scale"]["max"] = 5
    watcher.gcore.update(PROJECT, "my-instance", containers=containers)
    (alert,) = watcher.wait_alerts(1)
    text = all_text(alert["blocks"])
    assert "⚙️" in text and "scale 1–3 → 1–5" in text
    watcher.polls(3)
    assert watcher.alerts(QUIET) == []
    assert "<!" not in alert["text"] and "<@" not in alert["text"]  # wakes no one


def test_env_values_and_probe_headers_reach_no_message_log_or_row(watcher: WatchBot) -> None:
    markers = [f"marker-{uuid.uuid4().hex}" for _ in range(4)]
    watcher.gcore.update(
        PROJECT, "my-instance", envs={"API_TOKEN": markers[0]}, probes=probes_with_header(markers[1])
    )
    watcher.watch("watch my-instance --flat")
    watcher.gcore.update(
        PROJECT,
        "my-instance",
        envs={"API_TOKEN": markers[2], "OTHER": markers[0]},
        probes=probes_with_header(markers[3]),
        status="DEPLOYING",
    )
    (alert,) = watcher.wait_alerts(1)
    text = all_text(alert["blocks"])
    assert "`API_TOKEN` changed" in text and "`OTHER` added" in text and "liveness probe changed" in text
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    watcher.wait_alerts(2)
    watcher.polls()
    seen = {
        "slack": posted_text(watcher),
        "log": watcher.bot.log(),
        "database": sqlite_rows(watcher.workdir / "bot.db"),
    }
    for where, what in seen.items():
        for marker in markers:
            assert marker not in what, f"{marker} in the {where}"
    # Nor the Gcore key, the Slack tokens or the signing secret, in any of them (the log is at DEBUG).
    assert "DEBUG" in seen["log"]
    assert_no_secrets(*seen.values())
