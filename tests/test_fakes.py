"""Tests of the loopback fakes themselves, through real HTTP and websocket clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

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


async def test_slack_threads_history_metadata_and_edits(slack: FakeSlack) -> None:
    client = _web_client(slack)
    metadata = {"event_type": "alert", "event_payload": {"delivery_id": 7}}
    parent = await client.chat_postMessage(channel="C1", text="parent", metadata=metadata)
    reply = await client.chat_postMessage(
        channel="C1", text="reply", thread_ts=parent["ts"], reply_broadcast=False
    )
    assert float(reply["ts"]) > float(parent["ts"]) > time.time() - 60  # wall-clock ts, as Slack's

    history = await client.conversations_history(channel="C1")
    assert [m["text"] for m in history["messages"]] == ["parent"]
    assert "metadata" not in history["messages"][0]
    assert history["messages"][0]["reply_count"] == 1
    with_metadata = await client.conversations_history(channel="C1", include_all_metadata=True)
    assert with_metadata["messages"][0]["metadata"] == metadata
    replies = await client.conversations_replies(channel="C1", ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["parent", "reply"]

    await client.chat_update(channel="C1", ts=parent["ts"], text="edited")
    edited = slack.message("C1", parent["ts"])
    assert edited is not None and (edited["text"], edited["edit_count"]) == ("edited", 1)
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel="C1", ts="1.000001", text="x")
    with pytest.raises(SlackApiError, match="thread_not_found"):
        await client.chat_postMessage(channel="C1", text="x", thread_ts="1.000001")


async def test_slack_history_pages(slack: FakeSlack) -> None:
    client = _web_client(slack)
    for i in range(5):
        await client.chat_postMessage(channel="C1", text=str(i))
    first = await client.conversations_history(channel="C1", limit=3)
    assert [m["text"] for m in first["messages"]] == ["4", "3", "2"] and first["has_more"]
    rest = await client.conversations_history(
        channel="C1", limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["1", "0"] and not rest["has_more"]


async def test_slack_channel_states(slack: FakeSlack) -> None:
    client = _web_client(slack)
    slack.set_membership("C-public", False)
    with pytest.raises(SlackApiError, match="not_in_channel"):
        await client.chat_postMessage(channel="C-public", text="x")
    await client.conversations_join(channel="C-public")
    assert (await client.conversations_info(channel="C-public"))["channel"]["is_member"]
    await client.chat_postMessage(channel="C-public", text="x")

    slack.set_channel("G-private", is_private=True, is_member=False)
    with pytest.raises(SlackApiError, match="method_not_supported_for_channel_type"):
        await client.conversations_join(channel="G-private")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await client.chat_postMessage(channel="G-private", text="x")

    slack.set_channel("C-old", is_archived=True)
    with pytest.raises(SlackApiError, match="is_archived"):
        await client.chat_postMessage(channel="C-old", text="x")
    slack.mark_channel_deleted("C-gone")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await client.conversations_history(channel="C-gone")


async def test_slack_dm_by_user_id_and_delay_stores_first(slack: FakeSlack) -> None:
    client = _web_client(slack)
    dm = await client.chat_postMessage(channel="U0ALICE", text="hello")
    assert dm["channel"] == "D0ALICE" and slack.messages("D0ALICE")[0]["text"] == "hello"
    slack.set_delay("chat.postMessage", 2.0)
    task = asyncio.ensure_future(client.chat_postMessage(channel="C1", text="slow"))
    await wait_for_async(lambda: slack.messages("C1"), timeout=1.0, message="the stored post")
    assert not task.done()  # stored before Slack answered, as when a bot dies waiting for the answer
    assert (await task)["ok"]
