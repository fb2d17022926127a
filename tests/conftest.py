"""Fixtures that run the real bot (``python -m bot``) against the loopback Gcore and Slack fakes.

xdist's controller loads this file too and runs no test: what the fixtures need is imported when they run,
so the workers start without waiting for the controller to import the bot (~0.8 s).
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from bot.store import Store
    from tests.bots import RunningBot
    from tests.fakes.gcore import FakeGcore
    from tests.fakes.slack import FakeSlack

# Machines that set PYTHONDONTWRITEBYTECODE also keep pytest from caching the test modules it rewrites for
# its assertion messages: each xdist worker would then rewrite every one again (~5 s of CPU per worker).
# The modules imported from here on (the test modules, the bot) are cached atomically, pytest's rewritten
# ones included.
sys.dont_write_bytecode = False


def pytest_collection_finish(session: pytest.Session) -> None:
    """What each worker imported and collected lives as long as it does: frozen, the collector no longer walks
    it again in each full collection (those were about a tenth of a worker's CPU)."""
    gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist each worker starts on a contiguous slice of this order, and work stealing evens out the
    number of tests left, not how long they take: each slice gets its share of the end-to-end tests, first,
    and ends on quick ones, so that no worker is left running seconds-long tests alone at the end."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 0))
    if workers < 2:
        return
    slow = [item for item in items if item.path.name.startswith("test_e2e_")]
    quick = [item for item in items if not item.path.name.startswith("test_e2e_")]
    items[:] = [item for k in range(workers) for item in slow[k::workers] + quick[k::workers]]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each engine; PostgreSQL skips, saying why, where no server answers."""
    from tests.databases import postgres_schema, sqlite_url

    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
async def leading_store(database_url: str) -> AsyncIterator[Store]:
    """A store on each engine that leads and leases projects 1 to 3, as a lone replica does."""
    from bot.store import Store

    store = Store(database_url)
    assert await store.lead()
    assert (await store.lease_projects([1, 2, 3])).projects == [1, 2, 3]
    yield store
    store.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the machine's PostgreSQL; skips, saying why, where no server answers."""
    from tests.databases import postgres_schema

    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def gcore() -> Iterator[FakeGcore]:
    from tests.bots import GCORE_KEY
    from tests.fakes.gcore import FakeGcore

    with FakeGcore(api_key=GCORE_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def slack() -> Iterator[FakeSlack]:
    from tests.fakes.slack import FakeSlack

    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="session")
def http_bot(
    gcore: FakeGcore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBot]:
    """One bot in HTTP mode for the whole session; the fakes are reset before each test that uses it."""
    from tests.bots import start_bot

    bot = start_bot(gcore, slack, tmp_path_factory.mktemp("http-bot"))
    yield bot
    bot.stop()


@pytest.fixture
def bot(http_bot: RunningBot, gcore: FakeGcore, slack: FakeSlack) -> Iterator[RunningBot]:
    from tests.bots import assert_no_secrets, fresh_fakes

    fresh_fakes(gcore, slack)
    yield http_bot
    sent = [c.params for c in slack.calls()] + [p.body for p in slack.responses()]
    assert_no_secrets(json.dumps(sent), http_bot.log())


@pytest.fixture
def quick_gcore_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Gcore client of each bot in this process tries as often as ever, a twentieth as far apart: for
    tests of what a request that failed every attempt does (tests/test_gcore_client.py checks the backoff
    itself). A Retry-After from Gcore is still waited out in full."""
    from bot.gcore.retry import RetryPolicy

    backoff = RetryPolicy.backoff
    monkeypatch.setattr(RetryPolicy, "backoff", lambda policy, attempt: backoff(policy, attempt) / 20)


@pytest.fixture
def quick_slack_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk's retry handlers (the people-facing client, bot/slack/api.py) retry as often as ever, for
    the bots in this process, without the waits that are not the behaviour under test: a 429 waits its
    Retry-After alone (not up to a second more), a 5xx a few ms (not 0.5 s, then 1 s, each up to a second
    more)."""
    from slack_sdk.http_retry import builtin_async_handlers
    from slack_sdk.http_retry.handler import default_interval_calculator

    from tests.bots import NoJitter

    monkeypatch.setattr(builtin_async_handlers, "random", SimpleNamespace(random=lambda: 0.0))
    monkeypatch.setattr(default_interval_calculator, "backoff_factor", 0.005)
    monkeypatch.setattr(default_interval_calculator, "jitter", NoJitter())
