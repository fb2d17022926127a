"""A loopback fake of the Slack Web API, of response_url endpoints and of Socket Mode."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import WSCloseCode, WSMsgType, web

from tests.fakes.server import LoopbackServer, wait_for, wait_for_async
from tests.fakes.slack_requests import APP_ID, TEAM_DOMAIN, TEAM_ID, name_for_id

JSONDict = dict[str, Any]

BOT_USER_ID: Final = "U0BOT"
BOT_ID: Final = "B0BOT"
_BOT_USER_NAME: Final = "inference"
# Form-encoded (or query-string) Web API calls carry these as JSON strings.
_JSON_FORM_FIELDS: Final = ("blocks", "attachments", "view", "metadata")
# Methods that act on a channel's messages, so channel state (deleted, archived, membership) applies.
_CHANNEL_METHODS: Final = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "conversations.history",
        "conversations.replies",
        "conversations.join",
    }
)
_WS_CLOSE_TIMEOUT: Final = 2.0
_TS_BASE_SECONDS: Final = 1_700_000_000
# Paging cursors are opaque to clients; like Slack's they encode where the next page starts.
_CURSOR_PREFIX: Final = "next_ts:"
_MAX_LIMIT: Final = 1000
# chat.postMessage and chat.update refuse longer text with msg_too_long.
_MAX_TEXT: Final = 40_000
# Kept on stored messages for tests (``message(...)["edit_count"]``), never sent to clients.
_FAKE_ONLY_FIELDS: Final = frozenset({"edit_count"})


@dataclass(frozen=True)
class ApiCall:
    """One Web API call: method name, parsed params (token removed), token used, ``time.monotonic()``."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float


@dataclass(frozen=True)
class ResponsePost:
    """One JSON body POSTed to a response_url made by :meth:`FakeSlack.new_response_url`."""

    response_id: str
    body: dict[str, Any]
    at: float


@dataclass
class _Failure:
    error: str
    remaining: int
    status: int
    headers: dict[str, str]
    channel: str | None
    after_effect: bool


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _slack_error(error: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status, headers=headers)


def _dm_channel(channel_id: str) -> str:
    """Posting to a user id is how an app writes to that person's DM with it: ``U0ALICE`` -> ``D0ALICE``."""
    return "D" + channel_id[1:] if channel_id[:1] in ("U", "W") else channel_id


def _metadata_problem(params: JSONDict) -> str | None:
    """Slack's error for a malformed ``metadata`` argument, or None."""
    if "metadata" not in params:
        return None
    metadata = params["metadata"]
    if not isinstance(metadata, dict):
        return "invalid_metadata_format"
    if not isinstance(metadata.get("event_type"), str) or not isinstance(metadata.get("event_payload"), dict):
        return "invalid_metadata_schema"
    return None


def _public(message: JSONDict, *, with_metadata: bool = True) -> JSONDict:
    """A stored message as the Web API shows it: a copy without fake-only fields."""
    shown = {k: copy.deepcopy(v) for k, v in message.items() if k not in _FAKE_ONLY_FIELDS}
    if not with_metadata:
        shown.pop("metadata", None)
    return shown


def _encode_cursor(next_ts: str) -> str:
    return base64.b64encode(f"{_CURSOR_PREFIX}{next_ts}".encode()).decode()


def _decode_cursor(cursor: str) -> float | None:
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not decoded.startswith(_CURSOR_PREFIX):
        return None
    try:
        return float(decoded[len(_CURSOR_PREFIX) :])
    except ValueError:
        return None


class FakeSlack(LoopbackServer):
    """Loopback fake of Slack for a bot token ``xoxb-…`` and an app token ``xapp-…``.

    * Web API at :attr:`api_url` (``POST /api/{method}``, form or JSON bodies), recorded as
      :class:`ApiCall`; :meth:`fail_next` injects Slack errors and HTTP statuses.
    * response_url endpoints from :meth:`new_response_url`, recorded as :class:`ResponsePost`.
    * Socket Mode: ``apps.connections.open`` hands out ``ws://…/link/``; :meth:`send_envelope`
      pushes envelopes to the connected client and :meth:`wait_for_ack` returns its ack;
      :meth:`refuse_socket_upgrades` answers upgrades with an HTTP error, :meth:`socket_upgrades` lists them.
    * A message store: ``chat.postMessage`` (threads, metadata, DMs by user id), ``chat.update``,
      ``conversations.history``/``replies`` (time range, metadata, cursor paging), read back with
      :meth:`messages`/:meth:`message`; channel state (:meth:`set_channel`, :meth:`set_membership`,
      :meth:`mark_channel_deleted`) decides ``not_in_channel``, ``channel_not_found``, ``is_archived``.
    * :meth:`set_delay` slows one method's answers down after their effect is applied.
    * ``with fake.refusing_connections():`` Slack is out of reach: connections to its port are refused.

    Blocking waits (``wait_for_socket_client``, ``wait_for_ack``) must not be called from the
    event loop that runs the Slack client; use the ``*_async`` variants there.
    """

    def __init__(self) -> None:
        super().__init__()
        self._calls: list[ApiCall] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._response_ids: set[str] = set()
        self._response_posts: list[ResponsePost] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_messages: list[JSONDict] = []
        self._last_ts_micros = 0
        self._view_counter = itertools.count(1)
        self._users: dict[str, JSONDict] = {}
        self._channels: dict[str, JSONDict] = {}
        self._messages: dict[str, list[JSONDict]] = {}
        self._delays: dict[tuple[str, str | None], float] = {}
        self._deleted_channels: set[str] = set()
        self._message_limit: int | None = None
        self._usergroups: dict[str, list[str]] = {}
        self._upgrades: list[str] = []
        self._refused_upgrades: list[int] = []

    @property
    def api_url(self) -> str:
        """Web API base URL (with trailing slash) for ``AsyncWebClient(base_url=...)``."""
        return f"{self.url}/api/"

    # -- configuration ----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error: str,
        times: int = 1,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        channel: str | None = None,
        after_effect: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (to ``channel``, if given) with
        ``{"ok": false, "error": error}``.

        With ``after_effect`` the call is carried out first and only its answer is the error: Slack stored
        the message, and the client heard a failure (a 5xx from a proxy, a dropped answer).
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        failure = _Failure(error, times, status, dict(headers or {}), channel, after_effect)
        with self._lock:
            self._failures.setdefault(method, []).append(failure)

    def set_user(self, user_id: str, **fields: Any) -> None:
        """Override top-level fields of the user that ``users.info`` returns for ``user_id``."""
        with self._lock:
            self._users.setdefault(user_id, {}).update(copy.deepcopy(fields))

    def set_usergroup(self, usergroup_id: str, members: list[str] | None) -> None:
        """The members ``usergroups.users.list`` answers for ``usergroup_id``; None: no such group."""
        with self._lock:
            if members is None:
                self._usergroups.pop(usergroup_id, None)
            else:
                self._usergroups[usergroup_id] = list(members)

    def set_channel(self, channel_id: str, **fields: Any) -> None:
        """Override top-level fields of the channel that ``conversations.info`` returns.

        ``is_archived``, ``is_private`` and ``is_member`` also decide what posting and reading answer.
        """
        with self._lock:
            self._channels.setdefault(channel_id, {}).update(copy.deepcopy(fields))

    def set_membership(self, channel_id: str, is_member: bool) -> None:
        """Whether the bot is in ``channel_id`` (unknown channels: yes; ``conversations.join`` sets it)."""
        self.set_channel(channel_id, is_member=is_member)

    def mark_channel_deleted(self, channel_id: str) -> None:
        """From now on every method on ``channel_id`` answers ``channel_not_found`` (until :meth:`clear`)."""
        with self._lock:
            self._deleted_channels.add(channel_id)

    def set_delay(self, method: str, seconds: float, *, channel: str | None = None) -> None:
        """Answer ``method`` (to ``channel``, if given; errors too) only after ``seconds``; 0 turns it off.

        The call is recorded and its effect applied first, so a post is stored even when the client
        gives up waiting: a bot killed after Slack accepted its message. stop() cuts the wait short.
        """
        with self._lock:
            self._delays[(method, channel)] = max(0.0, seconds)

    def set_message_limit(self, chars: int | None) -> None:
        """Refuse posts and edits whose text and blocks take more than ``chars`` characters with
        ``msg_too_long``, as Slack does past its limits (None: Slack's documented 40,000 of text)."""
        with self._lock:
            self._message_limit = chars

    def messages(self, channel_id: str) -> list[JSONDict]:
        """Copies of the messages stored in the channel (top-level and replies), oldest first.

        A user id reads the app's DM with that person (``U0ALICE`` -> ``D0ALICE``). Besides what
        Slack shows, each has ``edit_count`` once edited.
        """
        with self._lock:
            return copy.deepcopy(self._messages.get(_dm_channel(channel_id), []))

    def message(self, channel_id: str, ts: str) -> JSONDict | None:
        """A copy of one stored message (as in :meth:`messages`), or None."""
        with self._lock:
            found = self._find(_dm_channel(channel_id), ts)
            return copy.deepcopy(found) if found else None

    # -- recorded state -----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Web API calls received (all, or those of ``method``), oldest first."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def clear(self) -> None:
        """Forget recorded calls, response_url posts, socket messages and upgrades, pending failures, delays,
        stored messages, channel state (set_channel/set_membership/mark_channel_deleted) and user groups."""
        with self._lock:
            self._failures.clear()
            self._upgrades.clear()
            self._refused_upgrades.clear()
            self._messages.clear()
            self._delays.clear()
            self._message_limit = None
            self._deleted_channels.clear()
            self._channels.clear()
            self._usergroups.clear()
            self._calls.clear()
            self._response_posts.clear()
            self._socket_messages.clear()

    def new_response_url(self) -> str:
        """Register and return a fresh response_url pointing at this fake."""
        response_id = uuid.uuid4().hex
        with self._lock:
            self._response_ids.add(response_id)
        return f"{self.url}/response/{response_id}"

    def responses(self, response_id: str | None = None) -> list[ResponsePost]:
        """Bodies posted to response_urls (all, or for one id), oldest first."""
        with self._lock:
            return [r for r in self._response_posts if response_id is None or r.response_id == response_id]

    # -- socket mode --------------------------------------------------------------------------

    @property
    def socket_client_count(self) -> int:
        """Number of currently open Socket Mode connections."""
        with self._lock:
            return sum(1 for ws in self._sockets if not ws.closed)

    def refuse_socket_upgrades(self, times: int, status: int = 503) -> None:
        """Answer the next ``times`` websocket upgrades (0: none; replaces what is left of an earlier
        count) with HTTP ``status``: the URL was issued, and the websocket does not open on it."""
        with self._lock:
            self._refused_upgrades = [status] * times

    def socket_upgrades(self) -> list[str]:
        """The ticket of each websocket upgrade asked for, refused or not, oldest first."""
        with self._lock:
            return list(self._upgrades)

    def socket_messages(self) -> list[JSONDict]:
        """Every JSON text frame received from Socket Mode clients, oldest first."""
        with self._lock:
            return list(self._socket_messages)

    def wait_for_socket_client(self, timeout: float = 10.0) -> None:
        """Block until a Socket Mode client is connected."""
        wait_for(lambda: self.socket_client_count > 0, timeout, message="a Socket Mode client to connect")

    async def wait_for_socket_client_async(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Like :meth:`wait_for_socket_client`, without blocking the calling event loop."""
        await wait_for_async(
            lambda: self.socket_client_count > 0, timeout, message="a Socket Mode client to connect"
        )

    def send_message(self, message: JSONDict, timeout: float = 5.0) -> None:
        """Send a raw JSON message (e.g. ``{"type": "disconnect", ...}``) to the newest client."""
        with self._lock:
            open_sockets = [ws for ws in self._sockets if not ws.closed]
        if not open_sockets:
            raise AssertionError("no Socket Mode client is connected")
        self.run_on_loop(open_sockets[-1].send_json(message), timeout)

    def send_envelope(
        self, envelope_type: str, payload: JSONDict, *, accepts_response_payload: bool = True
    ) -> str:
        """Send an envelope (``slash_commands``, ``interactive``, ``events_api``); return its id."""
        envelope_id = str(uuid.uuid4())
        self.send_message(
            {
                "envelope_id": envelope_id,
                "type": envelope_type,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id

    def _find_ack(self, envelope_id: str) -> JSONDict | None:
        with self._lock:
            return next((m for m in self._socket_messages if m.get("envelope_id") == envelope_id), None)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> JSONDict:
        """Block until the client acks ``envelope_id``; return its ack message."""
        return wait_for(
            lambda: self._find_ack(envelope_id), timeout, message=f"ack of envelope {envelope_id}"
        )

    async def wait_for_ack_async(self, envelope_id: str, timeout: float = 5.0) -> JSONDict:  # noqa: ASYNC109
        """Like :meth:`wait_for_ack`, without blocking the calling event loop."""
        return await wait_for_async(
            lambda: self._find_ack(envelope_id), timeout, message=f"ack of envelope {envelope_id}"
        )

    # -- app --------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """Routes of the fake."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{response_id}", self._response_url)
        app.router.add_get("/link/", self._socket)
        return app

    async def before_shutdown(self) -> None:
        """Close open websockets so their handlers return before the runner is cleaned up."""
        with self._lock:
            sockets = list(self._sockets)
        for ws in sockets:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY), _WS_CLOSE_TIMEOUT)

    # -- Web API ----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: JSONDict = dict(request.query)
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                return _slack_error("invalid_json")
            if not isinstance(body, dict):
                return _slack_error("invalid_json")
            params.update(body)
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                params[key] = value if isinstance(value, str) else getattr(value, "filename", str(value))
        for key in _JSON_FORM_FIELDS:
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    return _slack_error("invalid_metadata_format" if key == "metadata" else f"invalid_{key}")
        auth = request.headers.get("Authorization", "")
        token: str | None = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None
        form_token = params.pop("token", None)
        if not token and isinstance(form_token, str):
            token = form_token
        token = token or None

        with self._lock:
            # Recorded as sent; the handler works on its own copy (it may rewrite the channel).
            self._calls.append(ApiCall(method=method, params=params, token=token, at=time.monotonic()))
            channel = params.get("channel")
            delay = self._delays.get((method, channel), 0.0) or self._delays.get((method, None), 0.0)
            queue = self._failures.get(method, [])
            failure = next((f for f in queue if f.channel in (None, channel)), None)
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    queue.remove(failure)
            if failure is None:
                answer = self._answer(method, copy.deepcopy(params), token)
            else:
                if failure.after_effect:
                    self._answer(method, copy.deepcopy(params), token)
                answer = {"ok": False, "error": failure.error}
        if delay:
            # After the effect: a client that gives up (or dies) while waiting has still posted.
            await self.sleep(delay)
        if failure is not None:
            return _slack_error(failure.error, failure.status, failure.headers)
        return web.json_response(answer)

    def _answer(self, method: str, params: JSONDict, token: str | None) -> JSONDict:
        """The answer to one call that was not failed on purpose; runs with the lock held."""
        handler = self._methods.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        auth_error = self._check_token(method, token)
        if auth_error is not None:
            return {"ok": False, "error": auth_error}
        if isinstance(params.get("channel"), str) and params["channel"] in self._deleted_channels:
            return {"ok": False, "error": "channel_not_found"}
        if method in _CHANNEL_METHODS:
            params["channel"] = _dm_channel(str(params.get("channel") or ""))
            channel_error = self._channel_problem(method, params["channel"])
            if channel_error is not None:
                return {"ok": False, "error": channel_error}
        return handler(self, params)

    def _channel_problem(self, method: str, channel_id: str) -> str | None:
        if not channel_id or channel_id in self._deleted_channels:
            return "channel_not_found"
        state = self._channels.get(channel_id, {})
        if channel_id.startswith("D"):
            return "method_not_supported_for_channel_type" if method == "conversations.join" else None
        private = bool(state.get("is_private"))
        if method == "conversations.join":
            if private:
                return "method_not_supported_for_channel_type"
            return "is_archived" if state.get("is_archived") else None
        if not state.get("is_member", True):
            # A private channel the bot is not in looks like no channel at all.
            return "channel_not_found" if private else "not_in_channel"
        if state.get("is_archived") and method == "chat.postMessage":
            return "is_archived"
        return None

    def _find(self, channel_id: str, ts: str) -> JSONDict | None:
        return next((m for m in self._messages.get(channel_id, []) if m["ts"] == ts), None)

    def _thread_root(self, channel_id: str, ts: str) -> JSONDict | None:
        """The message ``ts`` or, if it is a reply, its thread's parent (Slack threads are one level)."""
        found = self._find(channel_id, ts)
        if found is not None and found.get("thread_ts", found["ts"]) != found["ts"]:
            return self._find(channel_id, found["thread_ts"])
        return found

    @staticmethod
    def _check_token(method: str, token: str | None) -> str | None:
        wanted = "xapp-" if method == "apps.connections.open" else "xoxb-"
        if not token:
            return "not_authed"
        if token.startswith(wanted):
            return None
        if token.startswith(("xoxb-", "xoxp-", "xapp-")):
            return "not_allowed_token_type"
        return "invalid_auth"

    def _next_ts(self) -> str:
        with self._lock:
            return self._next_ts_locked()

    def _next_ts_locked(self) -> str:
        # Like Slack's: the wall clock in seconds with microseconds, unique and increasing.
        micros = max(int(time.time() * 1_000_000), self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _message(self, params: JSONDict, ts: str) -> JSONDict:
        message: JSONDict = {
            "type": "message",
            "text": params.get("text", ""),
            "ts": ts,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if key in params:
                message[key] = params[key]
        return message

    def _auth_test(self, params: JSONDict) -> JSONDict:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Test",
            "user": _BOT_USER_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    # The handlers below run with self._lock held (see _api); the lock is reentrant.

    def _content_problem(self, params: JSONDict) -> str | None:
        """Slack's error for a post's or an edit's content, or None: empty, too long, bad metadata."""
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            return "no_text"
        text = str(params.get("text") or "")
        if self._message_limit is None:
            too_long = len(text) > _MAX_TEXT
        else:
            too_long = len(text) + len(json.dumps(params.get("blocks") or [])) > self._message_limit
        return "msg_too_long" if too_long else _metadata_problem(params)

    def _chat_post_message(self, params: JSONDict) -> JSONDict:
        problem = self._content_problem(params)
        if problem is not None:
            return {"ok": False, "error": problem}
        channel = params["channel"]
        parent = None
        if params.get("thread_ts"):
            parent = self._thread_root(channel, str(params["thread_ts"]))
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            params["thread_ts"] = parent["ts"]  # a reply to a reply lands in the same thread
        else:
            params.pop("thread_ts", None)
        ts = self._next_ts_locked()
        message = self._message(params, ts)
        if parent is not None:
            if "reply_broadcast" in params:
                message["reply_broadcast"] = _truthy(params["reply_broadcast"])
                if message["reply_broadcast"]:
                    message["subtype"] = "thread_broadcast"  # also shown in the channel
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["reply_users"] = [BOT_USER_ID]
            parent["reply_users_count"] = 1
            parent["latest_reply"] = ts
        elif "reply_broadcast" in params:
            message["reply_broadcast"] = _truthy(params["reply_broadcast"])
        self._messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": _public(message)}

    def _chat_update(self, params: JSONDict) -> JSONDict:
        stored = self._find(params["channel"], str(params.get("ts") or ""))
        if stored is None:
            return {"ok": False, "error": "message_not_found"}
        problem = self._content_problem(params)
        if problem is not None:
            return {"ok": False, "error": problem}
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                stored[key] = params[key]
        stored["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts_locked()}
        stored["edit_count"] = stored.get("edit_count", 0) + 1
        message = {k: v for k, v in _public(stored).items() if k != "ts"}
        return {
            "ok": True,
            "channel": params["channel"],
            "ts": stored["ts"],
            "text": stored["text"],
            "message": message,
        }

    @staticmethod
    def _time_range(params: JSONDict) -> Callable[[str], bool] | str:
        """A predicate on ts for ``oldest``/``latest``/``inclusive``, or the error to answer."""
        try:
            oldest = float(params.get("oldest") or 0)
        except (TypeError, ValueError):
            return "invalid_ts_oldest"
        try:
            latest = float(params["latest"]) if params.get("latest") else None
        except (TypeError, ValueError):
            return "invalid_ts_latest"
        inclusive = _truthy(params.get("inclusive"))

        def in_range(ts: str) -> bool:
            value = float(ts)
            above = value >= oldest if inclusive else value > oldest
            below = latest is None or (value <= latest if inclusive else value < latest)
            return above and below

        return in_range

    @staticmethod
    def _page(params: JSONDict, messages: list[JSONDict], *, newest_first: bool) -> JSONDict:
        """One page of ``messages`` (already ordered); the cursor names the next page's first ts."""
        try:
            limit = min(max(int(params.get("limit") or 100), 1), _MAX_LIMIT)
        except (TypeError, ValueError):
            return {"ok": False, "error": "invalid_limit"}
        start = 0
        if params.get("cursor"):
            next_ts = _decode_cursor(str(params["cursor"]))
            if next_ts is None:
                return {"ok": False, "error": "invalid_cursor"}
            # Stable while messages are posted between pages: skip what is past the cursor.
            start = next(
                (
                    i
                    for i, m in enumerate(messages)
                    if (float(m["ts"]) <= next_ts if newest_first else float(m["ts"]) >= next_ts)
                ),
                len(messages),
            )
        page = messages[start : start + limit]
        with_metadata = _truthy(params.get("include_all_metadata"))
        more = start + limit < len(messages)
        return {
            "ok": True,
            "messages": [_public(m, with_metadata=with_metadata) for m in page],
            "has_more": more,
            "response_metadata": {
                "next_cursor": _encode_cursor(messages[start + limit]["ts"]) if more else ""
            },
        }

    def _conversations_history(self, params: JSONDict) -> JSONDict:
        in_range = self._time_range(params)
        if isinstance(in_range, str):
            return {"ok": False, "error": in_range}
        shown = [
            m
            for m in self._messages.get(params["channel"], [])
            if (m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast")
            and in_range(m["ts"])
        ]
        return self._page(params, list(reversed(shown)), newest_first=True)

    def _conversations_replies(self, params: JSONDict) -> JSONDict:
        if not params.get("ts"):
            return {"ok": False, "error": "thread_not_found"}
        # ``ts`` may name the parent or any reply: the answer is the whole thread either way.
        parent = self._thread_root(params["channel"], str(params["ts"]))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        in_range = self._time_range(params)
        if isinstance(in_range, str):
            return {"ok": False, "error": in_range}
        replies = [
            m
            for m in self._messages.get(params["channel"], [])
            if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"] and in_range(m["ts"])
        ]
        if params.get("cursor"):
            # The parent leads the first page only.
            return self._page(params, replies, newest_first=False)
        return self._page(params, [parent, *replies], newest_first=False)

    def _conversations_join(self, params: JSONDict) -> JSONDict:
        channel_id = params["channel"]
        state = self._channels.setdefault(channel_id, {})
        already = state.get("is_member", True)
        state["is_member"] = True
        answer = self._conversations_info(params)
        if already:
            answer["warning"] = "already_in_channel"
            answer["response_metadata"] = {"warnings": ["already_in_channel"]}
        return answer

    def _chat_post_ephemeral(self, params: JSONDict) -> JSONDict:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_found"}
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _view(self, params: JSONDict) -> JSONDict:
        view = params.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = params.get("view_id")
        if not view_id:
            with self._lock:
                view_id = f"V{next(self._view_counter):08d}"
        echoed: JSONDict = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view.get("type", "modal"),
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "external_id": "",
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        echoed.update({k: v for k, v in view.items() if k not in ("id", "hash")})
        return {"ok": True, "view": echoed}

    def _views_publish(self, params: JSONDict) -> JSONDict:
        # Slack's documented answer for a user it cannot publish to (none, or deactivated: ``set_user(...,
        # deleted=True)``): ``invalid_arguments``, the code of an invalid view too, told apart only here.
        user_id = str(params.get("user_id") or "")
        with self._lock:
            deleted = bool(self._users.get(user_id, {}).get("deleted"))
        if not user_id or deleted:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": ["invalid `user_id`"]},
            }
        return self._view(params)

    def _conversations_info(self, params: JSONDict) -> JSONDict:
        channel_id = str(params.get("channel") or "")
        if not channel_id or channel_id in self._deleted_channels:
            return {"ok": False, "error": "channel_not_found"}
        overrides = copy.deepcopy(self._channels.get(channel_id, {}))
        channel: JSONDict
        if channel_id.startswith("D"):
            # The app's DM with a person: always a member, never joinable.
            channel = {
                "id": channel_id,
                "created": _TS_BASE_SECONDS - 86_400,
                "is_archived": False,
                "is_channel": False,
                "is_group": False,
                "is_im": True,
                "is_mpim": False,
                "is_org_shared": False,
                "context_team_id": TEAM_ID,
                "user": "U" + channel_id[1:],
                "is_user_deleted": False,
                "priority": 0,
                "is_member": True,
            }
            channel.update(overrides)
            return {"ok": True, "channel": channel}
        private = bool(overrides.get("is_private"))
        if private and not overrides.get("is_member", True):
            # A private channel the bot is not in looks like no channel at all.
            return {"ok": False, "error": "channel_not_found"}
        legacy_group = private and channel_id.startswith("G")  # private channels made before 2021
        name = name_for_id(channel_id)
        channel = {
            "id": channel_id,
            "name": name,
            "is_channel": not legacy_group,
            "is_group": legacy_group,
            "is_im": False,
            "is_mpim": False,
            "is_private": private,
            "created": _TS_BASE_SECONDS - 86_400,
            "is_archived": False,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": name,
            "is_shared": False,
            "is_org_shared": False,
            "is_member": True,
            "creator": "U0ALICE",
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }
        channel.update(overrides)
        return {"ok": True, "channel": channel}

    def _users_info(self, params: JSONDict) -> JSONDict:
        user_id = params.get("user")
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        is_bot = user_id == BOT_USER_ID
        name = _BOT_USER_NAME if is_bot else name_for_id(str(user_id))
        real_name = name.capitalize()
        user: JSONDict = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": "Europe/Luxembourg",
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "profile": {
                "real_name": real_name,
                "display_name": name,
                "real_name_normalized": real_name,
                "display_name_normalized": name,
                "email": None if is_bot else f"{name}@example.com",
                "image_48": "https://example.com/avatar_48.png",
                "team": TEAM_ID,
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": _TS_BASE_SECONDS,
        }
        if is_bot:
            user["profile"]["bot_id"] = BOT_ID
        with self._lock:
            user.update(copy.deepcopy(self._users.get(str(user_id), {})))
        return {"ok": True, "user": user}

    def _usergroups_users_list(self, params: JSONDict) -> JSONDict:
        # As documented: the group's member ids; an unknown group is no_such_subgroup.
        members = self._usergroups.get(str(params.get("usergroup") or ""))
        if members is None:
            return {"ok": False, "error": "no_such_subgroup"}
        return {"ok": True, "users": list(members)}

    def _apps_connections_open(self, params: JSONDict) -> JSONDict:
        ticket = uuid.uuid4()
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"}

    _methods: Final[dict[str, Callable[[FakeSlack, JSONDict], JSONDict]]] = {
        "auth.test": _auth_test,
        "chat.postMessage": _chat_post_message,
        "chat.update": _chat_update,
        "chat.postEphemeral": _chat_post_ephemeral,
        "views.open": _view,
        "views.update": _view,
        "views.push": _view,
        "views.publish": _views_publish,
        "conversations.info": _conversations_info,
        "conversations.history": _conversations_history,
        "conversations.replies": _conversations_replies,
        "conversations.join": _conversations_join,
        "users.info": _users_info,
        "usergroups.users.list": _usergroups_users_list,
        "apps.connections.open": _apps_connections_open,
    }

    # -- response_url -------------------------------------------------------------------------

    async def _response_url(self, request: web.Request) -> web.Response:
        response_id = request.match_info["response_id"]
        with self._lock:
            known = response_id in self._response_ids
        if not known:
            return web.Response(status=404, text="no_active_hooks")
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        with self._lock:
            self._response_posts.append(ResponsePost(response_id=response_id, body=body, at=time.monotonic()))
        return web.json_response({"ok": True})

    # -- socket mode ----------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self._upgrades.append(request.query.get("ticket", ""))
            refused = self._refused_upgrades.pop(0) if self._refused_upgrades else None
        if refused is not None:
            return web.Response(status=refused, text="upgrade refused")
        ws = web.WebSocketResponse(autoping=True, timeout=_WS_CLOSE_TIMEOUT)
        await ws.prepare(request)
        with self._lock:
            self._sockets.append(ws)
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": APP_ID},
                }
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    parsed = json.loads(msg.data)
                except ValueError:
                    parsed = {"raw": msg.data}
                with self._lock:
                    self._socket_messages.append(parsed if isinstance(parsed, dict) else {"raw": parsed})
        finally:
            with self._lock:
                self._sockets.remove(ws)
        return ws
