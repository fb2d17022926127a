"""``GET /metrics`` and ``LOG_FORMAT=json`` end to end: a bot watching the Gcore fake and alerting the Slack
fake, scraped as Prometheus scrapes it, over real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.bots import (
    APP_TOKEN,
    PROJECT,
    SECRETS,
    assert_no_secrets,
    fresh_fakes,
    start_bot,
    start_bot_process,
)
from tests.fakes.gcore import FakeGcore
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.test_e2e_watch import CHANNEL, LIST_PATH, WatchBot, watch_bot

Labels = dict[str, str]


class Scrape:
    """One scrape of ``/metrics``, parsed by prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named ``name`` whose labels include ``labels`` (0 when none)."""
        return sum(v for n, found, v in self.samples if n == name and labels.items() <= found.items())

    def label_values(self) -> set[str]:
        return {value for _, labels, _ in self.samples for value in labels.values()}


def scrape(bot: WatchBot) -> Scrape:
    response = bot.bot.http.get(f"{bot.bot.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


def scraped_when(bot: WatchBot, condition: str, check: object) -> Scrape:
    """The first scrape for which ``check(scrape)`` holds, waited for with a bound."""
    assert callable(check)

    def matching() -> Scrape | None:
        found = scrape(bot)
        return found if check(found) else None

    return wait_for(matching, timeout=15, message=condition)


@pytest.fixture
def watcher(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> Iterator[WatchBot]:
    yield from watch_bot(gcore, slack, tmp_path, process=False)


def assert_nothing_identifying(found: Scrape) -> None:
    """No secret, deployment name, channel or path with a name in any label (nor anywhere in the page)."""
    for word in (*SECRETS, "my-instance", CHANNEL, "/cloud/"):
        assert word not in found.text
    assert not {value for value in found.label_values() if "my-instance" in value or value.startswith("C0")}


def test_metrics_follow_a_watched_deployment_from_poll_to_alert(watcher: WatchBot) -> None:
    before = scrape(watcher)
    assert before.value("inference_bot_oldest_open_delivery_age_seconds") == 0
    assert before.value("inference_bot_subscriptions") == 0

    watcher.watch()
    card = watcher.command("status my-instance")
    assert "my-instance" in json.dumps(card)
    commands = 2
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    watcher.wait_alerts(1)

    # Posted first, done a moment later (the timeline's parent is updated after the post): until then the
    # delivery is still open, and ages.
    found = scraped_when(
        watcher,
        "the alert counted as posted, and no delivery left open",
        lambda s: (
            s.value("inference_bot_deliveries_total", outcome="posted")
            and s.value("inference_bot_oldest_open_delivery_age_seconds") == 0
        ),
    )
    assert found.value("inference_bot_deliveries_total", outcome="posted") == 1
    assert found.value("inference_bot_watch_cycle_seconds_count") > 0
    assert found.value("inference_bot_watch_cycle_seconds_sum") > 0
    assert found.value("inference_bot_gcore_requests_total", endpoint="deployments.list", outcome="ok") > 0
    # The status card asked for the deployment by name; the label is its template.
    assert found.value("inference_bot_gcore_requests_total", endpoint="deployments.get", outcome="ok") >= 1
    assert found.value("inference_bot_transitions_total", kind="changed") == 1
    assert found.value("inference_bot_subscriptions") == 1
    assert found.value("inference_bot_leased_projects") == 1
    assert found.value("inference_bot_ack_seconds_count", path="fast") >= commands
    assert found.value("inference_bot_ack_seconds_bucket", path="fast", le="3.0") >= commands
    assert found.value("inference_bot_oldest_open_delivery_age_seconds") == 0
    assert found.value("inference_bot_slack_api_errors_total") == 0
    assert_nothing_identifying(found)


def test_a_held_alert_ages_and_slack_errors_are_counted_by_code(watcher: WatchBot) -> None:
    watcher.watch()
    # Slack rate limits the channel's post for 1 s: the alert waits, open, and ages.
    watcher.slack.fail_next("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "1"})
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    held = scraped_when(
        watcher,
        "the alert held by the rate limit, and the 429 counted",
        lambda s: (
            s.value("inference_bot_oldest_open_delivery_age_seconds") > 0
            and s.value("inference_bot_slack_api_errors_total", code="ratelimited")
        ),
    )
    assert (
        held.value("inference_bot_slack_api_errors_total", code="ratelimited", method="chat_postMessage") == 1
    )
    assert held.value("inference_bot_deliveries_total", outcome="posted") == 0

    watcher.wait_alerts(1)
    done = scraped_when(
        watcher,
        "the alert delivered",
        lambda s: (
            s.value("inference_bot_deliveries_total", outcome="posted") == 1
            and s.value("inference_bot_oldest_open_delivery_age_seconds") == 0
        ),
    )
    assert done.value("inference_bot_slack_api_errors_total", code="ratelimited") == 1
    assert_nothing_identifying(done)


def test_gcore_failures_are_counted_by_status_and_a_retry_is_an_attempt(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.gcore.fail_next(503, path=LIST_PATH)
    watcher.gcore.fail_next(500, path=f"{LIST_PATH}/my-instance")
    watcher.command("status my-instance")
    found = scraped_when(
        watcher,
        "the 503 on the list and the 500 on the deployment counted",
        lambda s: (
            s.value("inference_bot_gcore_requests_total", endpoint="deployments.list", outcome="503")
            and s.value("inference_bot_gcore_requests_total", endpoint="deployments.get", outcome="500")
        ),
    )
    assert found.value("inference_bot_gcore_requests_total", endpoint="deployments.list", outcome="503") == 1
    assert found.value("inference_bot_gcore_requests_total", endpoint="deployments.get", outcome="500") == 1
    # A 503 is retried: the next attempt of the same poll succeeded, and no transition came of it.
    assert found.value("inference_bot_transitions_total") == 0
    assert_nothing_identifying(found)


def test_metrics_are_served_in_socket_mode(gcore: FakeGcore, slack: FakeSlack, tmp_path: Path) -> None:
    gcore.reset()
    slack.clear()
    bot = start_bot(gcore, slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
    try:
        response = bot.http.get(f"{bot.url}/metrics")
        assert response.status_code == 200
        names = {family.name for family in text_string_to_metric_families(response.text)}
        assert {"inference_bot_watch_cycle_seconds", "inference_bot_subscriptions"} <= names
    finally:
        bot.stop()


def test_json_logs_are_one_object_per_line_without_secrets(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    fresh_fakes(gcore, slack)
    # A Gcore failure on the way: warnings with reasons, at DEBUG level, in JSON.
    gcore.fail_next(500, path=f"{LIST_PATH}/my-instance")
    bot = start_bot_process(gcore, slack, tmp_path, LOG_FORMAT="json", LOG_LEVEL="debug")
    try:
        bot.reply(bot.command("status my-instance"))
        bot.reply(bot.command("status my-instance"))
        assert bot.http.get(f"{bot.url}/metrics").status_code == 200
    finally:
        bot.stop()
    log = bot.log()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert lines and all(isinstance(line, dict) for line in lines)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert {"DEBUG", "INFO", "WARNING"} <= {line["level"] for line in lines}
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    assert_no_secrets(log, json.dumps([c.params for c in slack.calls()]))
