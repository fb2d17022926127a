"""Outage notices: why the polls of a project fail, classified from the Gcore error, and the words a channel
reads (what is wrong, since when, how long it lasted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.gcore.errors import (
    DeploymentNotFound,
    GcoreAuthError,
    GcoreError,
    GcoreIncompleteListing,
    GcoreInvalidResponse,
    GcoreRateLimited,
    GcoreRequestRejected,
    GcoreUnavailable,
    ProjectNotFound,
    failure_reason,
)
from bot.watch.transitions import AlertKind, Transition
from formatters.alerts import render_alert, render_compact_alert
from formatters.outages import reason_words
from formatters.text import duration_words
from tests.blockkit import all_text, limit_problems

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (GcoreAuthError(401), "auth:401"),
        (GcoreAuthError(403), "auth:403"),
        (GcoreUnavailable("ConnectError on GET /x"), "no_answer"),
        (GcoreUnavailable("no whole answer within 15 s on GET /x"), "no_answer"),
        (GcoreUnavailable("HTTP 503 on GET /x", 503), "http:503"),
        (GcoreRateLimited(600.0), "rate_limited"),
        (GcoreInvalidResponse("HTTP 200"), "invalid"),
        (GcoreIncompleteListing(1, "page 2 repeats the one before"), "invalid"),
        (ProjectNotFound(1), "not_found"),
        (GcoreRequestRejected(400, "bad <input>"), "rejected:400"),
        (DeploymentNotFound(1, "x"), "error"),
    ],
)
def test_each_failure_has_a_short_reason(error: GcoreError, reason: str) -> None:
    assert failure_reason(error) == reason


def notice(reason: str | None, since: datetime | None = AT - timedelta(minutes=3)) -> Transition:
    return Transition(1, "", AlertKind.GCORE_UNREACHABLE, AT, problem=True, detail=reason, since=since)


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("auth:401", "the API key was rejected (401)"),
        ("auth:403", "the API key was rejected (403)"),
        ("no_answer", "no answer (requests time out, or connections are refused or dropped)"),
        ("http:503", "Gcore errors (503)"),
        ("rate_limited", "Gcore is rate limiting the bot (429)"),
        ("invalid", "its listing of deployments can't be read or is incomplete"),
        ("not_found", "Gcore knows no such project that the API key can see"),
        ("rejected:400", "Gcore refuses the request (400)"),
        ("error", "an unexpected error"),
    ],
)
def test_the_notice_says_what_is_wrong(reason: str, words: str) -> None:
    alert = render_alert(notice(reason), stuck_after_seconds=900)
    assert alert.text == f"📡 The bot can't reach the Gcore API for project 1: {words}"
    assert not limit_problems(alert.blocks, alert.text)
    assert render_compact_alert(notice(reason), stuck_after_seconds=900).text == alert.text


def test_the_notice_says_since_when_and_who_should_act() -> None:
    text = all_text(render_alert(notice("auth:403"), stuck_after_seconds=900).blocks)
    since = int((AT - timedelta(minutes=3)).timestamp())
    assert f"Failing since <!date^{since}^" in text
    assert "alerts for its deployments are on hold, and this channel will hear when it is back." in text
    assert "check `GCORE_API_KEY`" in text
    # An outage a person cannot fix names no one.
    assert "GCORE_API_KEY" not in all_text(render_alert(notice("http:502"), stuck_after_seconds=900).blocks)


def test_a_reason_this_version_does_not_know_is_escaped() -> None:
    assert reason_words("<!here>") == "an error (`&lt;!here&gt;`)"
    assert reason_words("auth:<@U1>") == "an error (`auth:&lt;@U1&gt;`)"
    assert reason_words("no_answer:5") == "an error (`no_answer:5`)"


def test_a_notice_recorded_before_reasons_still_reads() -> None:
    alert = render_alert(notice(None, since=None), stuck_after_seconds=900)
    assert alert.text == "📡 The bot can't reach the Gcore API for project 1"
    assert "Alerts for its deployments are on hold" in all_text(alert.blocks)
    back = Transition(1, "", AlertKind.GCORE_REACHABLE, AT, problem=True)
    assert (
        render_alert(back, stuck_after_seconds=900).text
        == "📡 The Gcore API is reachable again for project 1"
    )


@pytest.mark.parametrize(
    ("lasted", "words"),
    [
        (timedelta(seconds=45), "45 s"),
        (timedelta(minutes=12, seconds=40), "12 min"),
        (timedelta(hours=2, minutes=5), "2 h 5 min"),
        (timedelta(days=3, minutes=20), "3 days"),
    ],
)
def test_the_recovery_says_how_long_it_lasted(lasted: timedelta, words: str) -> None:
    back = Transition(1, "", AlertKind.GCORE_REACHABLE, AT, problem=True, since=AT - lasted)
    alert = render_alert(back, stuck_after_seconds=900)
    assert alert.text == f"📡 The Gcore API is reachable again for project 1, after {words}"
    assert f"It had been failing since <!date^{int((AT - lasted).timestamp())}^" in all_text(alert.blocks)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (-3.0, "0 s"),
        (0.4, "0 s"),
        (45.9, "45 s"),
        (60, "1 min"),
        (12 * 60 + 59, "12 min"),
        (3600, "1 h"),
        (2 * 3600 + 5 * 60 + 30, "2 h 5 min"),
        (86400, "1 day"),
        (86400 + 4 * 3600 + 59, "1 day 4 h"),
        (3 * 86400, "3 days"),
    ],
)
def test_duration_words(seconds: float, words: str) -> None:
    assert duration_words(seconds) == words
