"""The pieces behind ``/metrics`` and ``LOG_FORMAT``: endpoint templates and outcomes of Gcore requests, the
store's readings on both engines, and the log formatters' masking."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.config import Settings, SettingsError, load_settings
from bot.gcore.outcomes import endpoint_of, outcome_of
from bot.log_format import JsonFormatter, MaskingFormatter, log_formatter
from bot.metrics import Metrics
from bot.store import DeliveryState, Store
from bot.watch.transitions import AlertKind, ProjectDiff, Transition
from tests.bots import BOT_TOKEN, GCORE_KEY, SIGNING_SECRET

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DEPLOYMENTS = "/cloud/v3/inference/7/deployments"


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        (DEPLOYMENTS, "deployments.list"),
        (f"{DEPLOYMENTS}/my-instance", "deployments.get"),
        # A name is quoted whole by the client; a name that reads like a verb is still a name.
        (f"{DEPLOYMENTS}/logs", "deployments.get"),
        (f"{DEPLOYMENTS}/my%2Finstance", "deployments.get"),
        (f"{DEPLOYMENTS}/my-instance/logs", "deployments.logs"),
        (f"{DEPLOYMENTS}/my-instance/start", "deployments.start"),
        (f"{DEPLOYMENTS}/my-instance/stop", "deployments.stop"),
        ("/cloud/v1/regions", "regions.list"),
        ("/cloud/v1/user_actions", "user_actions.list"),
        (f"{DEPLOYMENTS}/my-instance/secrets", "other"),
        ("/cloud/v1/something/my-instance", "other"),
    ],
)
def test_endpoints_are_templates_without_names(path: str, endpoint: str) -> None:
    assert endpoint_of(path) == endpoint


def test_outcomes() -> None:
    request = httpx.Request("GET", "https://gcore.example/x")
    assert outcome_of(httpx.Response(200, request=request)) == "ok"
    assert outcome_of(httpx.Response(404, request=request)) == "404"
    assert outcome_of(httpx.Response(503, request=request)) == "503"
    assert outcome_of(TimeoutError()) == "timeout"
    assert outcome_of(httpx.ReadTimeout("slow", request=request)) == "timeout"
    assert outcome_of(httpx.ConnectTimeout("no answer", request=request)) == "connection"
    assert outcome_of(httpx.ConnectError("refused", request=request)) == "connection"
    assert outcome_of(httpx.RemoteProtocolError("reset", request=request)) == "connection"


@pytest.fixture
def store(leading_store: Store) -> Store:
    return leading_store


def changed(name: str, at: datetime) -> Transition:
    return Transition(
        project_id=1, name=name, kind=AlertKind.CHANGED, at=at, old_status="ACTIVE", new_status="X"
    )


async def test_store_readings_count_every_outcome(store: Store) -> None:
    assert await store.subscription_count() == 0
    assert await store.oldest_open_delivery() is None
    assert await store.delivery_outcomes() == dict.fromkeys(
        ("posted", "updated", "skipped", "failed", "retried"), 0
    )
    for channel in ("C1", "C2", "C3", "C4"):
        await store.subscribe(
            channel_id=channel,
            project_id=1,
            target="*",
            only_problems=False,
            flat=False,
            created_by="U1",
            now=NOW,
        )
    assert await store.subscription_count() == 4
    for minutes, name in enumerate(("a", "b", "c"), start=1):
        at = NOW + timedelta(minutes=minutes)
        await store.record_poll(1, ProjectDiff(transitions=[changed(name, at)]), [], at)
    assert await store.oldest_open_delivery() == NOW + timedelta(minutes=1)

    jobs = {(job.transition.name, job.channel_id): job for job in await store.open_deliveries()}
    # a: posted in C1, an edit alone in C2, failed in C3 after five attempts, retried twice in C4.
    await store.mark_delivery(jobs["a", "C1"].id, DeliveryState.POSTED, NOW, ts="1.1")
    await store.mark_delivery(jobs["a", "C1"].id, DeliveryState.DONE, NOW)
    await store.mark_delivery(jobs["a", "C2"].id, DeliveryState.DONE, NOW)
    for attempt in range(5):
        await store.record_delivery_failure(jobs["a", "C3"].id, "invalid_blocks", give_up=attempt == 4)
    for _ in range(2):
        await store.record_delivery_failure(jobs["a", "C4"].id, "internal_error", give_up=False)
    await store.mark_delivery(jobs["a", "C4"].id, DeliveryState.DONE, NOW)
    # C1 gone: its other deliveries are skipped.
    await store.pause_channel("C1", "channel_not_found")
    assert await store.delivery_outcomes() == {
        "posted": 1,
        "updated": 2,
        "skipped": 2,
        "failed": 1,
        "retried": 6,
    }
    # Deliveries of a remain open in no channel: the oldest open is b's.
    assert await store.oldest_open_delivery() == NOW + timedelta(minutes=2)


class _Unreachable:
    async def subscription_count(self) -> int:
        raise OSError("database gone")

    async def oldest_open_delivery(self) -> datetime | None:
        return None

    async def delivery_outcomes(self) -> dict[str, int]:
        return {}


async def test_a_scrape_without_the_store_leaves_its_metrics_out() -> None:
    page = (await Metrics(_Unreachable()).exposition()).decode()
    assert "inference_bot_watch_cycle_seconds_count 0.0" in page
    assert "inference_bot_subscriptions" not in page and "inference_bot_deliveries" not in page


class _Slow:
    """A store whose reads wait until ``answer`` is set, counting how often it was read."""

    def __init__(self) -> None:
        self.reads, self.answer = 0, asyncio.Event()

    async def subscription_count(self) -> int:
        self.reads += 1
        await self.answer.wait()
        return 3

    async def oldest_open_delivery(self) -> datetime | None:
        return None

    async def delivery_outcomes(self) -> dict[str, int]:
        return {}


async def test_scrapes_that_overlap_share_one_read_of_the_store() -> None:
    store = _Slow()
    metrics = Metrics(store)
    scrapes = [asyncio.create_task(metrics.exposition()) for _ in range(3)]
    await asyncio.sleep(0)  # let each scrape start and find the read under way
    store.answer.set()
    pages = [page.decode() for page in await asyncio.gather(*scrapes)]
    assert store.reads == 1
    assert all("inference_bot_subscriptions 3.0" in page for page in pages)


def record(message: str, *, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("bot.test", logging.DEBUG, __file__, 1, message, (), exc_info)


def raised(message: str) -> BaseException:
    try:
        raise RuntimeError(message)
    except RuntimeError:
        return sys.exc_info()[1]  # type: ignore[return-value]


def test_json_lines_mask_secrets_in_the_message_and_the_traceback() -> None:
    formatter = JsonFormatter((GCORE_KEY, BOT_TOKEN))
    line = formatter.format(
        record(f"calling with {BOT_TOKEN}\nand token=abc123", exc=raised(f"APIKey {GCORE_KEY} refused"))
    )
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "DEBUG" and parsed["logger"] == "bot.test"
    assert datetime.fromisoformat(parsed["time"]).tzinfo is not None
    assert parsed["message"] == "calling with ••••\nand token=••••"
    assert "RuntimeError: APIKey ••••" in parsed["exc_info"] and "Traceback" in parsed["exc_info"]
    assert GCORE_KEY not in line and BOT_TOKEN not in line
    assert "exc_info" not in json.loads(formatter.format(record("plain")))


def test_text_lines_mask_secrets_too() -> None:
    line = MaskingFormatter((SIGNING_SECRET,)).format(
        record(f"secret {SIGNING_SECRET}", exc=raised(SIGNING_SECRET))
    )
    assert SIGNING_SECRET not in line and "DEBUG bot.test: secret ••••" in line


def settings(**extra: str) -> Settings:
    return Settings.model_validate(
        {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "gcore_api_key": GCORE_KEY,
            "gcore_cloud_project_id": 1,
            **extra,
        }
    )


def test_log_format_picks_the_formatter() -> None:
    assert settings().log_format == "text"
    assert isinstance(log_formatter(settings()), MaskingFormatter)
    assert isinstance(log_formatter(settings(log_format="JSON")), JsonFormatter)


def test_a_bad_log_format_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(str(tmp_path))
    for name, value in {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "GCORE_API_KEY": GCORE_KEY,
        "GCORE_CLOUD_PROJECT_ID": "1",
        "LOG_FORMAT": "yaml",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=r"^LOG_FORMAT ") as raised_error:
        load_settings()
    assert "'text' or 'json'" in str(raised_error.value)
