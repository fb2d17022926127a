"""Property-based test of the HTTP door: a request whose signature is missing, forged, stale, from the future
or not a signature at all gets 401 before any listener runs, whatever the request would have asked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bots import SIGNING_SECRET, RunningBot, start_bot
from tests.fakes.gcore import FakeGcore
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import block_action, form_body, interactive_body, sign, slash_command

# Slack's window: a timestamp more than five minutes from now is refused; the margin keeps clear of the edge.
WINDOW = 5 * 60
MARGIN = 30
# Bytes an HTTP/1.1 header value may hold (visible ASCII and obs-text), so the request itself is well formed.
HEADER_BYTES = st.binary(max_size=80).map(lambda raw: bytes(b for b in raw if 0x21 <= b <= 0x7E or b >= 0x80))


@pytest.fixture(scope="module")
def door(
    gcore: FakeGcore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBot]:
    bot = start_bot(gcore, slack, Path(tmp_path_factory.mktemp("properties-signatures")))
    yield bot
    bot.stop()


@st.composite
def unsigned_requests(draw: st.DrawFn) -> tuple[str, dict[bytes, bytes]]:
    """A request Slack would send, with its signature headers missing, forged, stale, early or junk."""
    # Each asks Gcore at once when a listener runs: a card for the command, a refreshed card for the click.
    response_url = "https://hooks.slack.test/response/unused"
    value = '{"project_id":1,"name":"my-instance"}'
    body = draw(
        st.sampled_from(
            [
                form_body(slash_command("status my-instance", response_url=response_url)),
                interactive_body(block_action("deployment.refresh", value, response_url=response_url)),
            ]
        )
    )
    now = int(time.time())
    fault = draw(st.sampled_from(["missing", "forged", "stale", "future", "junk"]))
    timestamp: bytes | None = str(now).encode()
    signature: bytes | None = sign(SIGNING_SECRET, body, now).encode()
    if fault == "missing":
        dropped = draw(st.sampled_from(["timestamp", "signature", "both"]))
        timestamp = None if dropped != "signature" else timestamp
        signature = None if dropped != "timestamp" else signature
    elif fault == "forged":
        secret = draw(st.text(min_size=1, max_size=30).filter(lambda s: s != SIGNING_SECRET))
        tampered = draw(st.sampled_from([body, body + "&x=1", body.replace("my-instance", "other-one")]))
        signature = sign(secret, tampered, now).encode()
    elif fault in ("stale", "future"):
        offset = draw(st.integers(min_value=WINDOW + MARGIN, max_value=10**9))
        moment = now - offset if fault == "stale" else now + offset
        # Correctly signed, with the secret, at a moment outside the window.
        timestamp, signature = str(moment).encode(), sign(SIGNING_SECRET, body, moment).encode()
    else:
        timestamp = draw(st.one_of(HEADER_BYTES, st.just(timestamp)))
        signature = draw(HEADER_BYTES.map(lambda raw: draw(st.sampled_from([b"", b"v0="])) + raw))
    headers = {b"Content-Type": b"application/x-www-form-urlencoded"}
    if timestamp is not None:
        headers[b"X-Slack-Request-Timestamp"] = timestamp
    if signature is not None:
        headers[b"X-Slack-Signature"] = signature
    return body, headers


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=unsigned_requests())
def test_a_request_without_a_valid_fresh_signature_is_401_before_any_listener(
    door: RunningBot, gcore: FakeGcore, slack: FakeSlack, request: tuple[str, dict[bytes, bytes]]
) -> None:
    body, headers = request
    asked_gcore, called_slack, responded = len(gcore.requests), len(slack.calls()), len(slack.responses())
    logged = len(door.log())

    answer = door.http.post(f"{door.url}/slack/events", content=body.encode(), headers=headers)

    assert answer.status_code == 401, (answer.status_code, headers)
    assert "Traceback" not in door.log()[logged:]
    assert (len(gcore.requests), len(slack.calls()), len(slack.responses())) == (
        asked_gcore,
        called_slack,
        responded,
    )
