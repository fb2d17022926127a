"""``/readyz``: ready once the database answers at the newest revision and Slack has accepted the token;
not ready again while either is lost. ``/healthz`` (live) is not affected by either."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

import pytest

import bot.__main__ as bot_main
from bot.slack.auth import TokenRecheck
from tests.bots import RunningBot, fresh_fakes, start_bot
from tests.fakes.gcore import FakeGcore
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack


def readiness(bot: RunningBot) -> tuple[int, dict[str, object]]:
    answer = bot.http.get(f"{bot.url}/readyz")
    return answer.status_code, answer.json()


def test_a_running_bot_is_ready(bot: RunningBot) -> None:
    assert readiness(bot) == (200, {"ready": True})


@pytest.mark.usefixtures("quick_slack_retries")
def test_not_ready_until_slack_confirms_the_token(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_fakes(gcore, slack)
    # Rechecked from 50 ms on rather than 1 s: when Slack answers again is the test's to say.
    monkeypatch.setattr(bot_main, "TokenRecheck", functools.partial(TokenRecheck, first_delay=0.05))
    # Slack does not answer auth.test (a 500 through every retry) at start, nor after, until it is told to.
    slack.fail_next("auth.test", "internal_error", times=1000, status=500)
    bot = start_bot(gcore, slack, tmp_path)
    try:
        status, report = readiness(bot)
        assert status == 503 and report["problems"] == ["Slack has not confirmed the bot token yet"]
        assert bot.http.get(f"{bot.url}/healthz").status_code == 200  # alive all the same
        assert len(slack.calls("auth.test")) >= 3  # the start's call and its two retries
        slack.clear()  # Slack answers again
        wait_for(lambda: readiness(bot)[0] == 200, timeout=15, message="ready once Slack answers")
    finally:
        bot.stop()


def test_not_ready_while_the_database_is_not_at_the_newest_revision(
    gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    gcore.reset()
    slack.clear()
    bot = start_bot(gcore, slack, tmp_path)
    try:
        assert readiness(bot)[0] == 200
        with sqlite3.connect(tmp_path / "bot.db") as database:
            (revision,) = database.execute("SELECT version_num FROM alembic_version").fetchone()
            database.execute("UPDATE alembic_version SET version_num = '0001'")
        status, report = readiness(bot)
        assert status == 503
        assert report["problems"] == ["the database does not answer or is not at the newest revision"]
        with sqlite3.connect(tmp_path / "bot.db") as database:
            database.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        assert readiness(bot)[0] == 200
    finally:
        bot.stop()
