"""Region names: the client and the fake's ``GET /cloud/v1/regions``, the cached ``RegionNames`` service,
the label every formatter shows, names in alerts and timelines, and the Open in Gcore link setting."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from bot.actions import ActionId
from bot.config import SettingsError, load_settings
from bot.gcore.client import GcoreClient
from bot.gcore.errors import GcoreUnavailable
from bot.gcore.models import Region
from bot.gcore.regions import RegionNames
from bot.gcore.retry import RetryPolicy
from bot.watch.transitions import AlertKind, Snapshot, Transition
from formatters.alerts import render_alert, render_compact_alert
from formatters.regions import region_label
from formatters.timeline import render_sleep_digest, render_timeline, step_line
from tests.blockkit import all_text
from tests.fakes.gcore import DEFAULT_REGIONS, REGIONS_PATH, FakeGcore
from tests.test_gcore_client import API_KEY
from tests.test_gcore_client import gcore as gcore  # the fixture: a fresh fake per test

NAMES = {1: "Luxembourg-2", 100: "Amsterdam"}
PORTAL = "https://portal.example/cloud/{project_id}/inference/{name}"
AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def no_sleep(delay: float) -> None:
    return None


@pytest.fixture
async def client(gcore: FakeGcore) -> AsyncIterator[GcoreClient]:
    client = GcoreClient(gcore.url, API_KEY, sleep=no_sleep, retry=RetryPolicy(attempts=2))
    yield client
    await client.aclose()


# -- the endpoint ---------------------------------------------------------------------------------------------


async def test_list_regions_reads_the_documented_shape(client: GcoreClient, gcore: FakeGcore) -> None:
    regions = await client.list_regions()
    assert {r.id: r.display_name for r in regions} == DEFAULT_REGIONS
    assert DEFAULT_REGIONS[1] == "Luxembourg-2"  # the seed deployment's region
    request = gcore.requests[-1]
    assert (request.method, request.path) == ("GET", REGIONS_PATH)
    assert request.headers["Authorization"] == f"APIKey {API_KEY}"


async def test_list_regions_follows_pages_and_skips_unreadable_items(
    client: GcoreClient, gcore: FakeGcore
) -> None:
    gcore.set_regions({i: f"Region {i}" for i in range(1, 1501)})
    assert len(await client.list_regions()) == 1500
    assert [r.query["offset"] for r in gcore.requests] == ["0", "1000"]
    broken = {"count": 2, "results": [{"id": 1, "display_name": "Luxembourg-2"}, {"id": None}]}
    gcore.fail_next(200, body=broken, path=REGIONS_PATH)
    assert [r.display_name for r in await client.list_regions()] == ["Luxembourg-2"]


async def test_regions_fail_only_when_named(client: GcoreClient, gcore: FakeGcore) -> None:
    gcore.fail_next(500)  # no path: the inference endpoints only
    gcore.set_invalid_json()
    assert len(await client.list_regions()) == 2
    gcore.fail_next(500, path=REGIONS_PATH)
    with pytest.raises(GcoreUnavailable):
        await client.list_regions()


# -- the cached service ---------------------------------------------------------------------------------------


class Source:
    """A region source that counts lookups and fails, or hangs, when told."""

    def __init__(self) -> None:
        self.calls = 0
        self.names = dict(NAMES)
        self.fail = False
        self.hang = False

    async def list_regions(self) -> Sequence[Region]:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(60)
        if self.fail:
            raise GcoreUnavailable(f"HTTP 503 on GET {REGIONS_PATH}", 503)
        await asyncio.sleep(0)
        return [Region(id=i, display_name=name) for i, name in self.names.items()]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_names_are_cached_for_an_hour_and_refreshed_lazily() -> None:
    source, clock = Source(), Clock()
    regions = RegionNames(source, clock=clock)
    assert await regions.names() == NAMES
    clock.now += 3599
    source.names[5] = "Paris"
    assert await regions.names() == NAMES
    assert source.calls == 1
    clock.now += 2
    assert (await regions.names())[5] == "Paris"
    assert source.calls == 2


async def test_callers_asking_together_share_one_lookup() -> None:
    source = Source()
    regions = RegionNames(source)
    answers = await asyncio.gather(*(regions.names() for _ in range(20)))
    assert all(answer == NAMES for answer in answers)
    assert source.calls == 1


async def test_a_failed_lookup_keeps_the_last_names_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    source, clock = Source(), Clock()
    regions = RegionNames(source, clock=clock, retry_after=60)
    assert await regions.names() == NAMES
    source.fail = True
    caplog.set_level(logging.INFO, logger="bot.gcore.regions")
    for _ in range(5):
        clock.now += 3601
        assert await regions.names() == NAMES
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "http:503" in warnings[0].getMessage() and "keeping the last names" in warnings[0].getMessage()
    assert API_KEY not in caplog.text
    source.fail = False
    clock.now += 3601
    assert await regions.names() == NAMES
    assert "available again" in caplog.text


async def test_without_names_yet_a_failure_answers_none_and_waits_before_asking_again() -> None:
    source, clock = Source(), Clock()
    source.fail = True
    regions = RegionNames(source, clock=clock, retry_after=60)
    assert await regions.names() == {}
    assert await regions.names() == {}
    assert source.calls == 1
    source.fail = False
    clock.now += 61
    assert await regions.names() == NAMES


async def test_a_slow_lookup_costs_at_most_its_timeout() -> None:
    source = Source()
    source.hang = True
    regions = RegionNames(source, timeout=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await regions.names() == {}
    assert loop.time() - started < 1.0


async def test_the_real_client_behind_the_service(client: GcoreClient, gcore: FakeGcore) -> None:
    gcore.fail_next(503, times=2, path=REGIONS_PATH)
    failing = RegionNames(client)
    assert await failing.names() == {}
    assert await RegionNames(client).names() == DEFAULT_REGIONS


# -- words ---------------------------------------------------------------------------------------------------


def test_region_label_names_escapes_or_falls_back_to_the_id() -> None:
    assert region_label(100, NAMES) == "Amsterdam"
    assert region_label(7, NAMES) == "Region 7"
    assert region_label(7, NAMES, lower=True) == "region 7"
    assert region_label(3, {3: "<@U0EVE> & co"}) == "&lt;@U0EVE&gt; &amp; co"
    assert region_label(4, {4: "  "}) == "Region 4"


def failing_step(regions: tuple[int, ...] = (100,)) -> Transition:
    snapshot = Snapshot(
        name="my-instance",
        status="PARTIALLYDEPLOYED",
        ready=1,
        total=3,
        min_ready=1,
        errors=tuple((r, "OOMKilled") for r in regions),
    )
    return Transition(
        1,
        "my-instance",
        AlertKind.CHANGED,
        AT,
        "DEPLOYING",
        "PARTIALLYDEPLOYED",
        snapshot=snapshot,
        problem=True,
        episode=1,
    )


def test_alerts_and_timelines_name_regions_or_show_their_ids() -> None:
    t = failing_step((100, 7))
    alert = all_text(render_alert(t, stuck_after_seconds=900, regions=NAMES).blocks)
    assert "⚠️ *Amsterdam:* OOMKilled" in alert and "⚠️ *Region 7:* OOMKilled" in alert
    assert "⚠️ *Region 100:* OOMKilled" in all_text(render_alert(t, stuck_after_seconds=900).blocks)
    assert "OOMKilled (Amsterdam) (+1 region)" in step_line(t, 900, regions=NAMES)
    assert "OOMKilled (region 100)" in step_line(t, 900)
    timeline = all_text(render_timeline([t], stuck_after_seconds=900, regions=NAMES).blocks)
    assert "(Amsterdam)" in timeline
    compact = render_compact_alert(t, stuck_after_seconds=900, regions=NAMES)
    assert "my-instance" in compact.text


def test_alerts_link_to_gcore_when_a_portal_url_is_set() -> None:
    t = failing_step()
    for message in (
        render_alert(t, stuck_after_seconds=900, portal_url=PORTAL),
        render_timeline([t], stuck_after_seconds=900, portal_url=PORTAL),
        render_sleep_digest([t], portal_url=PORTAL),
    ):
        links = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"] if "url" in e]
        assert [(e["action_id"], e["url"]) for e in links] == [
            (ActionId.OPEN_PORTAL, "https://portal.example/cloud/1/inference/my-instance")
        ]
    assert ActionId.OPEN_PORTAL not in json.dumps(render_alert(t, stuck_after_seconds=900).blocks)
    # Thread replies carry no buttons, the link included.
    reply = render_alert(t, stuck_after_seconds=900, portal_url=PORTAL, with_buttons=False)
    assert ActionId.OPEN_PORTAL not in json.dumps(reply.blocks)


# -- the setting ---------------------------------------------------------------------------------------------


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> pytest.MonkeyPatch:
    for name in ("SLACK_APP_TOKEN", "GCORE_PORTAL_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-bot-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
    monkeypatch.setenv("GCORE_API_KEY", "gcore-secret-key")
    monkeypatch.setenv("GCORE_CLOUD_PROJECT_ID", "1")
    monkeypatch.chdir(str(tmp_path))  # no developer's .env
    return monkeypatch


def test_portal_url_is_optional_and_kept_as_a_template(environment: pytest.MonkeyPatch) -> None:
    assert load_settings().gcore_portal_url is None
    environment.setenv("GCORE_PORTAL_URL", "")
    assert load_settings().gcore_portal_url is None
    environment.setenv("GCORE_PORTAL_URL", PORTAL)
    assert load_settings().gcore_portal_url == PORTAL


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "https://portal.example/{project_id}/{region_id}/{name}",
            "GCORE_PORTAL_URL may use only the placeholders {project_id} and {name}, not {region_id}",
        ),
        ("https://portal.example/{}", "GCORE_PORTAL_URL may use only the placeholders"),
        ("https://portal.example/{name!r}", "not {name!r}"),
        ("https://portal.example/{name", "GCORE_PORTAL_URL has an unmatched brace"),
        ("portal.example/{name}", "GCORE_PORTAL_URL must be an http(s) URL"),
    ],
)
def test_a_bad_portal_url_stops_start_up_with_one_clear_line(
    environment: pytest.MonkeyPatch, template: str, message: str
) -> None:
    environment.setenv("GCORE_PORTAL_URL", template)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert str(caught.value).count("GCORE_PORTAL_URL") == 1
    assert "secret" not in str(caught.value)
