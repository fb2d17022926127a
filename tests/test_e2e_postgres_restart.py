"""PostgreSQL restarted under a running bot: it reconnects and carries on, with nothing lost or doubled.

The machine's server is shared, so the restart is played on loopback: the bot reaches PostgreSQL through a
proxy whose cut resets every session, and every new connection for a few seconds, as a restart does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests import test_e2e_alert_correctness as correctness
from tests.blockkit import all_text
from tests.bots import PROJECT
from tests.databases import POSTGRES_URL
from tests.fakes.gcore import FakeGcore
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.tcp_proxy import TcpProxy
from tests.test_e2e_alert_correctness import alert_ids, start
from tests.test_e2e_watch import INTERVAL, WatchBot

# The fixtures of the alert-correctness tests: the fakes reset, and the bots stopped before the schema goes.
fakes, bots = correctness.fakes, correctness.bots
# A restart's length is not the behaviour: the checks during the cut take well under a second, loaded, and
# what is left of it still spans QUIET_CYCLES of the watcher, all failing to reach the database.
CUT_SECONDS = 2.0
QUIET_CYCLES = 5
# What the bot may log at WARNING or worse over a cut and its recovery: a line or two per part that
# noticed (the locks, the watcher, the notifier, the command asked during the cut), not one per cycle.
MAX_WARNINGS = 6
MAX_TRACEBACKS = 0
NOT_READY = "the database does not answer or is not at the newest revision"
# A record of the in-process bot's log: "<date> <time>,<ms> <LEVEL> <logger>: <message>".
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", re.MULTILINE)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A loopback proxy in front of the machine's PostgreSQL."""
    server = make_url(POSTGRES_URL)
    with TcpProxy(server.host or "127.0.0.1", server.port or 5432) as running:
        yield running


def through(proxy: TcpProxy, url: str) -> str:
    """``url`` with the host and port of ``proxy``; its query (the test's schema) kept."""
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def probe(watcher: WatchBot, path: str) -> tuple[int, object]:
    """The status and JSON body of ``GET path`` on the bot; (0, None) when it does not answer."""
    try:
        answer = watcher.bot.http.get(f"{watcher.bot.url}{path}", timeout=5)
    except httpx.TransportError:
        return 0, None
    return answer.status_code, answer.json()


def serious_records(log: str) -> tuple[list[str], int]:
    """The first lines of the bot's own records at WARNING or worse in ``log``, and how many of them
    carry a traceback."""
    records = [record for record in _RECORD.split(log) if record]
    serious = [record for record in records if re.match(r"(WARNING|ERROR|CRITICAL) (bot|handlers)\.", record)]
    return [record.splitlines()[0] for record in serious], sum("Traceback" in r for r in serious)


def test_postgresql_restarted_under_a_running_bot_reconnects_and_carries_on(
    postgres_url: str,
    proxy: TcpProxy,
    bots: list[WatchBot],
    fakes: tuple[FakeGcore, FakeSlack],
    tmp_path: Path,
) -> None:
    watcher = start(bots, fakes, tmp_path, DATABASE_URL=through(proxy, postgres_url))
    watcher.watch()
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")
    (parent,) = watcher.wait_alerts(1)
    watcher.polls(2)  # the alert's delivery is finished: the cut finds the bot between polls
    assert probe(watcher, "/readyz")[0] == 200
    bot, logged, connections = watcher.bot, len(watcher.bot.log()), proxy.accepted

    ended = proxy.cut(CUT_SECONDS)
    assert probe(watcher, "/healthz") == (200, {"ok": True})
    wait_for(
        lambda: probe(watcher, "/readyz") == (503, {"ready": False, "problems": [NOT_READY]}),
        timeout=3,
        message="/readyz to say the database does not answer",
    )
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")  # a change while the database is away
    assert watcher.command("watching")["text"] == (
        "The bot's database does not answer right now; try again in a minute."
    )
    quiet = QUIET_CYCLES * float(INTERVAL)
    assert time.monotonic() < ended - quiet, "the checks during the cut outlasted it; lengthen CUT_SECONDS"
    # The rest of the cut: QUIET_CYCLES cycles of the watcher or more, none of which may record or alert.
    wait_for(lambda: time.monotonic() >= ended - 0.2, timeout=CUT_SECONDS, message="the cut's last moment")
    assert probe(watcher, "/healthz")[0] == 200
    assert len(alert_ids(watcher.slack)) == 1  # nothing alerted while nothing can be recorded

    wait_for(lambda: time.monotonic() >= ended, timeout=CUT_SECONDS, message="the end of the cut")
    wait_for(lambda: probe(watcher, "/readyz")[0] == 200, timeout=15, interval=0.05, message="ready again")
    (recovered,) = watcher.wait_replies(parent["ts"], 1)
    assert "🔵 Deploying → 🟢 Active" in all_text(recovered["blocks"])
    watcher.gcore.set_status(PROJECT, "my-instance", "DISABLED")
    wait_for(lambda: len(alert_ids(watcher.slack)) >= 3, timeout=15, message="the change after the cut")
    watcher.polls(10)
    ids = alert_ids(watcher.slack)
    assert len(ids) == 3 == len(set(ids)), ids

    # The same bot, never restarted, reconnected through the proxy.
    assert watcher.bot is bot and bot.problem() is None and proxy.accepted > connections
    warnings, tracebacks = serious_records(bot.log()[logged:])
    assert len(warnings) <= MAX_WARNINGS and tracebacks <= MAX_TRACEBACKS, (
        f"{len(warnings)} warnings, {tracebacks} with a traceback:\n" + "\n".join(warnings)
    )
