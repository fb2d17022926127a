"""Tests of the loopback fakes themselves, through real HTTP and websocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.gcore import SEED_DEPLOYMENT, FakeGcore, seed_deployment
from tests.fakes.server import wait_for, wait_for_async
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import (
    block_action,
    form_body,
    interactive_body,
    sign,
    signed_headers,
    slash_command,
)

API_KEY = "test-gcore-key"
DEPLOYMENTS = "/cloud/v3/inference/1/deployments"


@pytest.fixture
def gcore() -> Iterator[FakeGcore]:
    with FakeGcore(API_KEY) as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def api(gcore: FakeGcore) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=gcore.url, headers={"Authorization": f"APIKey {API_KEY}"}, timeout=5.0
    ) as client:
        yield client


def _web_client(slack: FakeSlack, token: str | None = "xoxb-test") -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=slack.api_url, timeout=5)


# -- helpers ------------------------------------------------------------------------------


def test_wait_for_returns_value_and_times_out_with_message() -> None:
    values = iter([None, 0, "ready"])
    assert wait_for(lambda: next(values), timeout=1.0) == "ready"
    with pytest.raises(
        AssertionError, match=r"timed out after 0\.05s waiting for the moon.*last value: False"
    ):
        wait_for(lambda: False, timeout=0.05, message="the moon")


async def test_wait_for_async_times_out() -> None:
    with pytest.raises(AssertionError, match="timed out"):
        await wait_for_async(lambda: None, timeout=0.05)


def test_server_binds_loopback_free_port_and_stops() -> None:
    fake = FakeGcore().start()
    try:
        assert fake.url.startswith("http://127.0.0.1:")
        assert fake.port > 0
    finally:
        fake.stop()
    fake.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = fake.url


# -- FakeGcore ----------------------------------------------------------------------------


def test_seed_deployment_copies_documented_example() -> None:
    deployment = seed_deployment(name="other", status="DISABLED")
    assert (deployment["name"], deployment["status"], deployment["project_id"]) == ("other", "DISABLED", 1)
    deployment["containers"][0]["region_id"] = 99
    assert SEED_DEPLOYMENT["containers"][0]["region_id"] == 1
    assert SEED_DEPLOYMENT["name"] == "my-instance"
    assert SEED_DEPLOYMENT["flavor_name"] == "inference-16vcpu-232gib-1xh100-80gb"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "APIKey wrong"},
        {"Authorization": f"Bearer {API_KEY}"},
        {"Authorization": API_KEY},
    ],
)
def test_gcore_rejects_bad_auth(gcore: FakeGcore, headers: dict[str, str]) -> None:
    response = httpx.get(gcore.url + DEPLOYMENTS, headers=headers, timeout=5.0)
    assert response.status_code == 401
    assert response.json() == {"exception_class": "NotAuthenticated", "message": "Invalid API key"}


def test_gcore_accepts_lowercase_scheme_and_records_requests(gcore: FakeGcore) -> None:
    response = httpx.get(
        gcore.url + DEPLOYMENTS,
        params={"limit": "5"},
        headers={"Authorization": f"apikey {API_KEY}"},
        timeout=5.0,
    )
    assert response.status_code == 200
    (recorded,) = gcore.requests
    assert (recorded.method, recorded.path, recorded.query) == ("GET", DEPLOYMENTS, {"limit": "5"})
    assert recorded.headers["Authorization"] == f"apikey {API_KEY}"
    gcore.clear_requests()
    assert gcore.requests == []


def test_gcore_list_pages_sorted_by_name(gcore: FakeGcore, api: httpx.Client) -> None:
    for name in ("charlie", "alpha", "bravo"):
        gcore.put(seed_deployment(name=name))
    gcore.put(seed_deployment(name="elsewhere", project_id=2))

    body = api.get(DEPLOYMENTS, params={"limit": 2, "offset": 1}).json()
    assert body["count"] == 3
    assert [d["name"] for d in body["results"]] == ["bravo", "charlie"]
    assert [d["name"] for d in api.get(DEPLOYMENTS).json()["results"]] == ["alpha", "bravo", "charlie"]
    assert api.get(DEPLOYMENTS, params={"offset": 5}).json() == {"count": 3, "results": []}

    for bad in ({"limit": 1001}, {"limit": "x"}, {"offset": -1}, {"limit": 0}):
        response = api.get(DEPLOYMENTS, params=bad)
        assert response.status_code == 400, bad
        assert "message" in response.json()
    assert api.get("/cloud/v3/inference/abc/deployments").status_code == 404


def test_gcore_get_start_stop_and_404(gcore: FakeGcore, api: httpx.Client) -> None:
    gcore.put(seed_deployment())
    assert api.get(f"{DEPLOYMENTS}/my-instance").json() == SEED_DEPLOYMENT

    missing = api.get(f"{DEPLOYMENTS}/nope")
    assert missing.status_code == 404
    assert missing.json() == {"exception_class": "NotFound", "message": "Inference instance nope not found"}

    stopped = api.post(f"{DEPLOYMENTS}/my-instance/stop")
    assert (stopped.status_code, stopped.content) == (204, b"")
    assert gcore.get(1, "my-instance") == seed_deployment(status="DISABLED")
    assert api.post(f"{DEPLOYMENTS}/my-instance/start").status_code == 204
    assert api.get(f"{DEPLOYMENTS}/my-instance").json()["status"] == "DEPLOYING"
    assert api.post(f"{DEPLOYMENTS}/nope/start").status_code == 404

    gcore.update(1, "my-instance", status="ACTIVE", description="changed")
    assert api.get(f"{DEPLOYMENTS}/my-instance").json()["description"] == "changed"
    gcore.remove(1, "my-instance")
    assert gcore.get(1, "my-instance") is None
    assert api.get(f"{DEPLOYMENTS}/my-instance").status_code == 404


def test_gcore_logs(gcore: FakeGcore, api: httpx.Client) -> None:
    gcore.put(seed_deployment())
    gcore.set_logs(
        1,
        "my-instance",
        [
            {"message": "first", "pod": "p-1", "region_id": 1, "time": "2024-10-14T14:54:01Z"},
            {"message": "second", "pod": "p-2", "region_id": 7, "time": "2024-10-14T14:54:02Z"},
            {"message": "third", "pod": "p-1", "region_id": 1, "time": "2024-10-14T14:54:03Z"},
        ],
    )
    url = f"{DEPLOYMENTS}/my-instance/logs"
    body = api.get(url, params={"limit": 2}).json()
    assert body["count"] == 3
    assert [e["message"] for e in body["results"]] == ["third", "second"]
    ascending = api.get(url, params={"order_by": "time.asc", "region_id": 1}).json()
    assert [e["message"] for e in ascending["results"]] == ["first", "third"]
    assert api.get(url, params={"order_by": "name"}).status_code == 400
    assert api.get(f"{DEPLOYMENTS}/nope/logs").status_code == 404


def test_gcore_fail_next_then_success(gcore: FakeGcore, api: httpx.Client) -> None:
    gcore.fail_next(503, times=2)
    gcore.fail_next(429, headers={"Retry-After": "1"}, path_contains="/logs")
    first = api.get(DEPLOYMENTS, headers={"Authorization": "wrong"})  # outages come before auth
    assert first.status_code == 503
    assert first.json()["message"] == "Service Unavailable"
    assert api.get(DEPLOYMENTS).status_code == 503
    assert api.get(DEPLOYMENTS).status_code == 200

    limited = api.get(f"{DEPLOYMENTS}/x/logs")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
    assert api.get(f"{DEPLOYMENTS}/x/logs").status_code == 404


def test_gcore_invalid_json(gcore: FakeGcore, api: httpx.Client) -> None:
    gcore.set_invalid_json()
    response = api.get(DEPLOYMENTS)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert api.get(DEPLOYMENTS).json() == {"count": 0, "results": []}


def test_gcore_down_drops_connections(gcore: FakeGcore, api: httpx.Client) -> None:
    gcore.set_down(True)
    with pytest.raises(httpx.TransportError):
        api.get(DEPLOYMENTS)
    assert len(gcore.requests) == 1
    gcore.set_down(False)
    assert api.get(DEPLOYMENTS).status_code == 200


def test_gcore_delay(gcore: FakeGcore, api: httpx.Client) -> None:
    gcore.set_delay(0.3)
    started = time.monotonic()
    assert api.get(DEPLOYMENTS).status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        api.get(DEPLOYMENTS, timeout=0.05)
    gcore.set_delay(0)


def test_gcore_counts_a_request_answered_once_its_answer_is_made(gcore: FakeGcore, api: httpx.Client) -> None:
    before = time.monotonic()
    gcore.set_delay(0.5, path=DEPLOYMENTS)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(api.get, DEPLOYMENTS)
        wait_for(lambda: [r for r in gcore.requests if r.path == DEPLOYMENTS], timeout=5, message="arrived")
        assert gcore.answered_since(DEPLOYMENTS, before) == 0  # arrived, its answer not made yet
        assert held.result(timeout=5).status_code == 200
    assert gcore.answered_since(DEPLOYMENTS, before) == 1
    assert gcore.answered_since(DEPLOYMENTS, time.monotonic()) == 0  # none arrived since
    gcore.set_delay(0, path=DEPLOYMENTS)


# -- FakeSlack Web API ----------------------------------------------------------------------


async def test_slack_auth_test(slack: FakeSlack) -> None:
    response = await _web_client(slack).auth_test()
    assert response["user_id"] == "U0BOT"
    assert response["bot_id"] == "B0BOT"
    assert response["team_id"] == "T0TEST"
    (call,) = slack.calls("auth.test")
    assert call.token == "xoxb-test"


async def test_slack_post_message_records_blocks(slack: FakeSlack) -> None:
    client = _web_client(slack)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    first = await client.chat_postMessage(channel="C0OPS", text="hi", blocks=blocks)
    second = await client.chat_postMessage(channel="C0OPS", text="again")
    assert first["ok"] and first["channel"] == "C0OPS"
    assert first["message"]["blocks"] == blocks
    assert first["message"]["bot_id"] == "B0BOT"
    assert float(second["ts"]) > float(first["ts"])

    call = slack.calls("chat.postMessage")[0]
    assert call.params["blocks"] == blocks
    assert call.params["channel"] == "C0OPS"
    assert call.token == "xoxb-test"

    updated = await client.chat_update(channel="C0OPS", ts=first["ts"], text="edited")
    assert (updated["ts"], updated["text"]) == (first["ts"], "edited")
    ephemeral = await client.chat_postEphemeral(channel="C0OPS", user="U0ALICE", text="psst")
    assert ephemeral["message_ts"]
    assert [c.method for c in slack.calls()] == [
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
    ]
    slack.clear()
    assert slack.calls() == []


async def test_slack_form_body_json_fields_are_parsed(slack: FakeSlack) -> None:
    blocks = [{"type": "divider"}]
    await _web_client(slack).api_call(
        "chat.postMessage", data={"channel": "C0OPS", "text": "x", "blocks": json.dumps(blocks)}
    )
    assert slack.calls("chat.postMessage")[0].params["blocks"] == blocks


async def test_slack_views_info_and_connections_open(slack: FakeSlack) -> None:
    client = _web_client(slack)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    opened = await client.views_open(trigger_id="1337.42.abcd", view=view)
    assert opened["view"]["id"].startswith("V")
    assert opened["view"]["title"] == view["title"]
    updated = await client.views_update(view_id=opened["view"]["id"], view=view)
    assert updated["view"]["id"] == opened["view"]["id"]
    assert (await client.conversations_info(channel="C0OPS"))["channel"]["name"] == "ops"
    slack.set_user("U0ALICE", is_admin=True)
    user = (await client.users_info(user="U0ALICE"))["user"]
    assert (user["name"], user["is_admin"]) == ("alice", True)

    opened_ws = await client.apps_connections_open(app_token="xapp-test")
    assert opened_ws["url"].startswith(f"ws://127.0.0.1:{slack.port}/link/?ticket=")


async def test_slack_auth_and_unknown_method_errors(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as missing:
        await _web_client(slack, token=None).auth_test()
    assert missing.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as wrong_type:
        await _web_client(slack).apps_connections_open(app_token="xoxb-test")
    assert wrong_type.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as unknown:
        await _web_client(slack).api_call("nope.nope")
    assert unknown.value.response["error"] == "unknown_method"


async def test_slack_fail_next_ratelimited(slack: FakeSlack) -> None:
    client = _web_client(slack)
    slack.fail_next("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "1"})
    slack.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C0OPS", text="hi")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "1"
    assert limited.value.response["error"] == "ratelimited"
    with pytest.raises(SlackApiError) as not_found:
        await client.chat_postMessage(channel="C0OPS", text="hi")
    assert (not_found.value.response.status_code, not_found.value.response["error"]) == (
        200,
        "channel_not_found",
    )
    assert (await client.chat_postMessage(channel="C0OPS", text="hi"))["ok"]
    assert len(slack.calls("chat.postMessage")) == 3


# -- response_url ---------------------------------------------------------------------------


async def test_response_url_records_posts(slack: FakeSlack) -> None:
    url = slack.new_response_url()
    response_id = url.rsplit("/", 1)[1]
    sent = await AsyncWebhookClient(url, timeout=5).send_dict({"text": "done", "replace_original": True})
    assert (sent.status_code, json.loads(sent.body)) == (200, {"ok": True})
    (post,) = slack.responses(response_id)
    assert post.body == {"text": "done", "replace_original": True}
    assert slack.responses("other") == []

    async with httpx.AsyncClient(timeout=5.0) as http:
        unknown = await http.post(f"{slack.url}/response/unknown", json={"text": "x"})
    assert unknown.status_code == 404


# -- what Slack sends -----------------------------------------------------------------------


def test_signature_matches_slack_sdk_verifier() -> None:
    secret = "shhh"
    body = form_body(slash_command("status my-instance", response_url="http://127.0.0.1:1/response/x"))
    headers = signed_headers(secret, body)
    verifier = SignatureVerifier(secret)
    assert verifier.is_valid_request(body, headers)
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not verifier.is_valid_request(body + "x", headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert sign(secret, body, 1) != sign(secret, body, 2)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_slash_command_and_block_action_shapes() -> None:
    fields = slash_command("list", response_url="http://r")
    assert dict(parse_qsl(form_body(fields))) == fields
    assert (fields["command"], fields["user_name"], fields["channel_name"]) == ("/inference", "alice", "ops")

    ephemeral = block_action("refresh", "my-instance", response_url="http://r")
    assert ephemeral["container"]["is_ephemeral"] is True
    assert "message" not in ephemeral
    action = ephemeral["actions"][0]
    assert (action["action_id"], action["value"], action["type"]) == ("refresh", "my-instance", "button")

    message = {"type": "message", "ts": "1700000000.000200", "text": "x", "blocks": []}
    in_channel = block_action("refresh", "v", response_url="http://r", message=message)
    assert in_channel["container"] == {
        "type": "message",
        "message_ts": "1700000000.000200",
        "channel_id": "C0OPS",
        "is_ephemeral": False,
    }
    (key, raw), *_ = parse_qsl(interactive_body(in_channel))
    assert key == "payload"
    assert json.loads(raw) == in_channel


# -- Socket Mode ----------------------------------------------------------------------------


async def test_socket_mode_envelope_and_ack(slack: FakeSlack) -> None:
    client = SocketModeClient(app_token="xapp-test", web_client=_web_client(slack), ping_interval=1)
    frames: list[dict[str, Any]] = []

    async def on_message(_: AsyncBaseSocketModeClient, message: dict[str, Any], raw: str | None) -> None:
        frames.append(message)

    async def on_request(c: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        await c.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload={"text": f"got {request.type}"})
        )

    client.message_listeners.append(on_message)
    client.socket_mode_request_listeners.append(on_request)
    try:
        await client.connect()  # type: ignore[no-untyped-call]
        await slack.wait_for_socket_client_async(timeout=5.0)
        assert slack.calls("apps.connections.open")[0].token == "xapp-test"

        payload = slash_command("status", response_url=slack.new_response_url())
        envelope_id = slack.send_envelope("slash_commands", dict(payload))
        ack = await slack.wait_for_ack_async(envelope_id, timeout=5.0)
        assert ack == {"envelope_id": envelope_id, "payload": {"text": "got slash_commands"}}
        await wait_for_async(lambda: len(frames) >= 2, timeout=5.0)
        assert frames[0]["type"] == "hello"
        assert frames[1]["payload"]["text"] == "status"
    finally:
        await client.close()  # type: ignore[no-untyped-call]
    await wait_for_async(lambda: slack.socket_client_count == 0, timeout=5.0)


async def test_socket_upgrades_refused_then_accepted(slack: FakeSlack) -> None:
    slack.refuse_socket_upgrades(2, status=503)
    urls = [
        (await _web_client(slack, "xapp-test").apps_connections_open(app_token="xapp-test"))["url"]
        for _ in range(3)
    ]
    async with aiohttp.ClientSession() as session:
        for url in urls[:2]:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url)
            assert refused.value.status == 503
        async with session.ws_connect(urls[2]) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
    assert slack.socket_upgrades() == [dict(parse_qsl(urlsplit(url).query))["ticket"] for url in urls]
    slack.refuse_socket_upgrades(5)
    slack.refuse_socket_upgrades(0)
    async with aiohttp.ClientSession() as session, session.ws_connect(urls[0]) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
    slack.clear()
    assert slack.socket_upgrades() == []


# -- FakeSlack message store, channels and delays ------------------------------------------

TS_SHAPE = re.compile(r"^\d{10}\.\d{6}$")
ALERT = {"event_type": "alert", "event_payload": {"delivery_id": 7}}


async def test_slack_thread_replies_count_on_the_parent(slack: FakeSlack) -> None:
    client = _web_client(slack)
    parent = await client.chat_postMessage(channel="C1", text="parent")
    first = await client.chat_postMessage(
        channel="C1", text="r1", thread_ts=parent["ts"], reply_broadcast=False
    )
    # A reply to a reply lands in the same (one-level) thread.
    second = await client.chat_postMessage(channel="C1", text="r2", thread_ts=first["ts"])
    assert second["message"]["thread_ts"] == parent["ts"]
    other = await client.chat_postMessage(channel="C2", text="elsewhere")
    stamps = [parent["ts"], first["ts"], second["ts"], other["ts"]]
    assert all(TS_SHAPE.match(ts) for ts in stamps)
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 4  # unique across channels
    assert float(parent["ts"]) > time.time() - 60  # wall-clock, as Slack's

    stored = slack.messages("C1")
    assert [m["text"] for m in stored] == ["parent", "r1", "r2"]
    head = stored[0]
    assert (head["thread_ts"], head["reply_count"], head["latest_reply"]) == (
        parent["ts"],
        2,
        second["ts"],
    )
    assert {k: head[k] for k in ("type", "user", "bot_id")} == {
        "type": "message",
        "user": "U0BOT",
        "bot_id": "B0BOT",
    }
    assert stored[1]["thread_ts"] == parent["ts"] and stored[1]["reply_broadcast"] is False
    assert "reply_broadcast" not in stored[2] and "reply_count" not in stored[1]
    stored[0]["text"] = "changed"  # a copy
    assert slack.message("C1", parent["ts"]) == {**head, "text": "parent"}
    assert slack.message("C1", "1.000001") is None
    with pytest.raises(SlackApiError, match="thread_not_found"):
        await client.chat_postMessage(channel="C1", text="x", thread_ts="1.000001")
    with pytest.raises(SlackApiError, match="thread_not_found"):
        await client.chat_postMessage(channel="C2", text="x", thread_ts=parent["ts"])  # other channel
    assert len(slack.messages("C1")) == 3


async def test_slack_metadata_in_json_and_form_bodies(slack: FakeSlack) -> None:
    client = _web_client(slack)
    as_json = await client.chat_postMessage(channel="C1", text="json", metadata=ALERT)
    as_form = await client.api_call(
        "chat.postMessage", data={"channel": "C1", "text": "form", "metadata": json.dumps(ALERT)}
    )
    assert slack.message("C1", as_json["ts"])["metadata"] == ALERT  # type: ignore[index]
    assert slack.message("C1", as_form["ts"])["metadata"] == ALERT  # type: ignore[index]
    with pytest.raises(SlackApiError, match="invalid_metadata_schema"):
        await client.chat_postMessage(channel="C1", text="x", metadata={"event_payload": {}})
    with pytest.raises(SlackApiError, match="invalid_metadata_format"):
        await client.api_call("chat.postMessage", data={"channel": "C1", "text": "x", "metadata": "{"})
    assert len(slack.messages("C1")) == 2


async def test_slack_history_shows_top_level_newest_first_metadata_on_request(slack: FakeSlack) -> None:
    client = _web_client(slack)
    a = await client.chat_postMessage(channel="C1", text="a")
    b = await client.chat_postMessage(channel="C1", text="b", metadata=ALERT)
    await client.chat_postMessage(channel="C1", text="reply", thread_ts=b["ts"], metadata=ALERT)
    await client.chat_postMessage(channel="C1", text="loud", thread_ts=a["ts"], reply_broadcast=True)
    c = await client.chat_postMessage(channel="C1", text="c")

    history = await client.conversations_history(channel="C1")
    assert [m["text"] for m in history["messages"]] == ["c", "loud", "b", "a"]
    assert history["messages"][1]["subtype"] == "thread_broadcast"  # broadcast replies show in the channel
    assert history["messages"][2]["reply_count"] == 1
    assert not history["has_more"] and history["response_metadata"]["next_cursor"] == ""
    assert all("metadata" not in m and "edit_count" not in m for m in history["messages"])
    with_metadata = await client.conversations_history(channel="C1", include_all_metadata=True)
    assert with_metadata["messages"][2]["metadata"] == ALERT

    between = await client.conversations_history(channel="C1", oldest=a["ts"], latest=c["ts"])
    assert [m["text"] for m in between["messages"]] == ["loud", "b"]  # bounds are exclusive
    inclusive = await client.conversations_history(
        channel="C1", oldest=a["ts"], latest=c["ts"], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["c", "loud", "b", "a"]
    as_form = await client.api_call(
        "conversations.history", data={"channel": "C1", "oldest": b["ts"], "include_all_metadata": "true"}
    )
    assert [m["text"] for m in as_form["messages"]] == ["c", "loud"]
    assert (await client.conversations_history(channel="C-empty"))["messages"] == []
    with pytest.raises(SlackApiError, match="invalid_ts_oldest"):
        await client.conversations_history(channel="C1", oldest="yesterday")


async def test_slack_history_pages_stay_put_while_posting(slack: FakeSlack) -> None:
    client = _web_client(slack)
    for i in range(5):
        await client.chat_postMessage(channel="C1", text=str(i))
    first = await client.conversations_history(channel="C1", limit=2)
    assert [m["text"] for m in first["messages"]] == ["4", "3"] and first["has_more"]
    cursor = first["response_metadata"]["next_cursor"]
    await client.chat_postMessage(channel="C1", text="new")  # does not shift the next page
    second = await client.conversations_history(channel="C1", limit=2, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["2", "1"] and second["has_more"]
    last = await client.conversations_history(
        channel="C1", limit=2, cursor=second["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in last["messages"]] == ["0"] and not last["has_more"]
    assert last["response_metadata"]["next_cursor"] == ""
    with pytest.raises(SlackApiError, match="invalid_cursor"):
        await client.conversations_history(channel="C1", cursor="not-a-cursor")


async def test_slack_replies_give_the_thread_parent_first(slack: FakeSlack) -> None:
    client = _web_client(slack)
    parent = await client.chat_postMessage(channel="C1", text="parent", metadata=ALERT)
    replies = [
        await client.chat_postMessage(channel="C1", text=f"r{i}", thread_ts=parent["ts"], metadata=ALERT)
        for i in range(3)
    ]
    await client.chat_postMessage(channel="C1", text="unrelated")

    thread = await client.conversations_replies(channel="C1", ts=parent["ts"])
    assert [m["text"] for m in thread["messages"]] == ["parent", "r0", "r1", "r2"]
    assert "metadata" not in thread["messages"][1]
    by_reply = await client.conversations_replies(
        channel="C1", ts=replies[1]["ts"], include_all_metadata=True
    )
    assert [m["text"] for m in by_reply["messages"]] == ["parent", "r0", "r1", "r2"]
    assert by_reply["messages"][3]["metadata"] == ALERT
    newer = await client.conversations_replies(channel="C1", ts=parent["ts"], oldest=replies[0]["ts"])
    assert [m["text"] for m in newer["messages"]] == ["parent", "r1", "r2"]

    page = await client.conversations_replies(channel="C1", ts=parent["ts"], limit=2)
    assert [m["text"] for m in page["messages"]] == ["parent", "r0"] and page["has_more"]
    rest = await client.conversations_replies(
        channel="C1", ts=parent["ts"], limit=2, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["r1", "r2"] and not rest["has_more"]
    lonely = await client.chat_postMessage(channel="C1", text="no replies")
    assert [
        m["text"] for m in (await client.conversations_replies(channel="C1", ts=lonely["ts"]))["messages"]
    ] == ["no replies"]
    with pytest.raises(SlackApiError, match="thread_not_found"):
        await client.conversations_replies(channel="C1", ts="1.000001")


async def test_slack_update_edits_the_stored_message(slack: FakeSlack) -> None:
    client = _web_client(slack)
    posted = await client.chat_postMessage(channel="C1", text="v1", metadata=ALERT)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "v2"}}]
    first = await client.chat_update(channel="C1", ts=posted["ts"], text="v2", blocks=blocks)
    assert (first["ts"], first["text"], first["message"]["blocks"]) == (posted["ts"], "v2", blocks)
    assert "edit_count" not in first["message"]
    new_metadata = {"event_type": "alert", "event_payload": {"delivery_id": 8}}
    await client.chat_update(channel="C1", ts=posted["ts"], text="v3", metadata=new_metadata)

    stored = slack.message("C1", posted["ts"])
    assert stored is not None
    assert (stored["text"], stored["blocks"], stored["metadata"], stored["edit_count"]) == (
        "v3",
        blocks,
        new_metadata,
        2,
    )
    assert stored["edited"]["user"] == "U0BOT" and float(stored["edited"]["ts"]) > float(posted["ts"])
    assert len(slack.messages("C1")) == 1
    history = await client.conversations_history(channel="C1")
    assert history["messages"][0]["text"] == "v3" and "edited" in history["messages"][0]
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel="C1", ts="1.000001", text="x")
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel="C2", ts=posted["ts"], text="x")


async def test_slack_public_channel_membership_and_join(slack: FakeSlack) -> None:
    client = _web_client(slack)
    await client.chat_postMessage(channel="C-public", text="before")
    slack.set_membership("C-public", False)
    for call in (
        client.chat_postMessage(channel="C-public", text="x"),
        client.conversations_history(channel="C-public"),
        client.conversations_replies(channel="C-public", ts="1.000001"),
    ):
        with pytest.raises(SlackApiError, match="not_in_channel"):
            await call
    info = (await client.conversations_info(channel="C-public"))["channel"]
    assert (info["is_member"], info["is_private"], info["is_archived"], info["is_im"]) == (
        False,
        False,
        False,
        False,
    )
    joined = await client.conversations_join(channel="C-public")
    assert joined["channel"]["id"] == "C-public" and joined["channel"]["is_member"]
    assert "warning" not in joined
    assert (await client.conversations_info(channel="C-public"))["channel"]["is_member"]
    await client.chat_postMessage(channel="C-public", text="after")
    assert [m["text"] for m in slack.messages("C-public")] == ["before", "after"]
    again = await client.conversations_join(channel="C-public")
    assert again["warning"] == "already_in_channel"
    assert (await client.conversations_info(channel="C-unknown"))["channel"]["is_member"]  # default


async def test_slack_private_archived_and_deleted_channels(slack: FakeSlack) -> None:
    client = _web_client(slack)
    slack.set_channel("G-private", is_private=True, is_member=False)
    for call in (
        client.chat_postMessage(channel="G-private", text="x"),
        client.conversations_history(channel="G-private"),
        client.conversations_replies(channel="G-private", ts="1.000001"),
        client.conversations_info(channel="G-private"),
    ):
        with pytest.raises(SlackApiError, match="channel_not_found"):
            await call
    with pytest.raises(SlackApiError, match="method_not_supported_for_channel_type"):
        await client.conversations_join(channel="G-private")
    slack.set_membership("G-private", True)  # invited
    info = (await client.conversations_info(channel="G-private"))["channel"]
    assert (info["is_private"], info["is_member"], info["is_group"]) == (True, True, True)
    await client.chat_postMessage(channel="G-private", text="inside")

    slack.set_channel("C-old", is_archived=True)
    with pytest.raises(SlackApiError, match="is_archived"):
        await client.chat_postMessage(channel="C-old", text="x")
    with pytest.raises(SlackApiError, match="is_archived"):
        await client.conversations_join(channel="C-old")
    assert (await client.conversations_info(channel="C-old"))["channel"]["is_archived"]
    assert (await client.conversations_history(channel="C-old"))["messages"] == []  # still readable

    posted = await client.chat_postMessage(channel="C-gone", text="x")
    slack.mark_channel_deleted("C-gone")
    for call in (
        client.chat_postMessage(channel="C-gone", text="x"),
        client.chat_update(channel="C-gone", ts=posted["ts"], text="x"),
        client.conversations_history(channel="C-gone"),
        client.conversations_replies(channel="C-gone", ts=posted["ts"]),
        client.conversations_info(channel="C-gone"),
        client.conversations_join(channel="C-gone"),
        client.chat_postEphemeral(channel="C-gone", user="U0ALICE", text="x"),
    ):
        with pytest.raises(SlackApiError, match="channel_not_found"):
            await call

    slack.clear()  # forgets channel state, messages and deletions
    assert slack.messages("C-gone") == [] and slack.messages("G-private") == []
    await client.chat_postMessage(channel="C-gone", text="back")
    await client.chat_postMessage(channel="C-old", text="reopened")
    await client.chat_postMessage(channel="G-private", text="public again")


async def test_slack_post_to_a_user_id_writes_the_dm(slack: FakeSlack) -> None:
    client = _web_client(slack)
    dm = await client.chat_postMessage(channel="U0ALICE", text="hello")
    assert dm["channel"] == "D0ALICE"
    enterprise = await client.chat_postMessage(channel="W0BOB", text="hi")
    assert enterprise["channel"] == "D0BOB"
    assert [m["text"] for m in slack.messages("D0ALICE")] == ["hello"]
    assert slack.messages("U0ALICE") == slack.messages("D0ALICE")  # accessor convenience
    assert slack.calls("chat.postMessage")[0].params["channel"] == "U0ALICE"  # recorded as sent
    await client.chat_postMessage(channel="D0ALICE", text="in thread", thread_ts=dm["ts"])
    assert slack.message("D0ALICE", dm["ts"])["reply_count"] == 1  # type: ignore[index]
    history = await client.conversations_history(channel="D0ALICE")
    assert [m["text"] for m in history["messages"]] == ["hello"]
    info = (await client.conversations_info(channel="D0ALICE"))["channel"]
    assert (info["is_im"], info["is_member"], info["user"]) == (True, True, "U0ALICE")
    with pytest.raises(SlackApiError, match="method_not_supported_for_channel_type"):
        await client.conversations_join(channel="D0ALICE")


async def test_slack_delay_answers_late_but_stores_at_once(slack: FakeSlack) -> None:
    client = _web_client(slack)
    slack.set_delay("chat.postMessage", 0.5)
    started = time.monotonic()
    task = asyncio.create_task(client.chat_postMessage(channel="C1", text="slow"))
    stored = await wait_for_async(lambda: slack.messages("C1"), timeout=0.3, message="the stored post")
    assert stored[0]["text"] == "slow" and not task.done()
    answer = await asyncio.wait_for(task, timeout=5.0)
    assert answer["ts"] == stored[0]["ts"] and time.monotonic() - started >= 0.5
    assert (await client.conversations_history(channel="C1"))["ok"]  # other methods are not delayed

    slack.set_delay("chat.postMessage", 0)
    started = time.monotonic()
    await client.chat_postMessage(channel="C1", text="fast")
    assert time.monotonic() - started < 0.3


async def test_slack_delay_stores_the_post_of_a_client_that_gives_up(slack: FakeSlack) -> None:
    slack.set_delay("chat.postMessage", 30.0)
    # The client stops waiting (as a killed bot would) while Slack still sits on the answer.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(_web_client(slack).chat_postMessage(channel="C1", text="lost answer"), 0.3)
    assert [m["text"] for m in slack.messages("C1")] == ["lost answer"]
    slack.set_delay("chat.update", 0.2)
    slack.fail_next("chat.update", "ratelimited", status=429, headers={"Retry-After": "1"})
    started = time.monotonic()
    with pytest.raises(SlackApiError, match="ratelimited"):
        await _web_client(slack).chat_update(channel="C1", ts=slack.messages("C1")[0]["ts"], text="x")
    assert time.monotonic() - started >= 0.2  # injected failures are delayed too


def _post_and_ignore_the_answer(fake: FakeSlack) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(
            f"{fake.api_url}chat.postMessage",
            json={"channel": "C1", "text": "x"},
            headers={"Authorization": "Bearer xoxb-test"},
            timeout=10.0,
        )


def test_slack_stop_cuts_a_pending_delay_short() -> None:
    fake = FakeSlack().start()
    try:
        fake.set_delay("chat.postMessage", 60.0)
        request = threading.Thread(target=_post_and_ignore_the_answer, args=(fake,), daemon=True)
        request.start()
        wait_for(lambda: fake.messages("C1"), timeout=5.0, message="the stored post")
    finally:
        started = time.monotonic()
        fake.stop(timeout=10.0)
    assert time.monotonic() - started < 5.0
    request.join(timeout=10.0)
    assert not request.is_alive()


def test_slack_clear_resets_delays() -> None:
    with FakeSlack() as fake:
        fake.set_delay("auth.test", 60.0)
        fake.clear()
        started = time.monotonic()
        response = httpx.post(
            f"{fake.api_url}auth.test", headers={"Authorization": "Bearer xoxb-test"}, timeout=5.0
        )
        assert response.json()["ok"] and time.monotonic() - started < 5.0


def test_slack_refusing_connections_then_listening_again_on_the_same_port() -> None:
    with FakeSlack() as fake:
        url, auth = f"{fake.api_url}auth.test", {"Authorization": "Bearer xoxb-test"}
        with fake.refusing_connections():
            with pytest.raises(httpx.ConnectError):
                httpx.post(url, headers=auth, timeout=5.0)
            assert fake.calls() == []
        assert httpx.post(url, headers=auth, timeout=5.0).json()["ok"]
        assert fake.url == url.removesuffix("/api/auth.test")
    with pytest.raises(RuntimeError):
        _ = fake.url
