"""A loopback fake of Gcore's Everywhere Inference API (cloud v3 deployments)."""

from __future__ import annotations

import copy
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.fakes.server import LoopbackServer

JSONDict = dict[str, Any]

_BASE: Final = "/cloud/v3/inference/{project_id}/deployments"
# Failures injected without a path (fail_next, set_invalid_json) hit the inference API only; break the
# regions endpoint by naming its path.
_INFERENCE: Final = "/cloud/v3/inference/"
REGIONS_PATH: Final = "/cloud/v1/regions"
# Gcore's audit log: break it by naming its path (``fail_next(403, path=USER_ACTIONS_PATH)``, ``set_delay``).
USER_ACTIONS_PATH: Final = "/cloud/v1/user_actions"
# Region names by id served by default: the seed's region 1 and one more.
DEFAULT_REGIONS: Final[dict[int, str]] = {1: "Luxembourg-2", 100: "Amsterdam"}
# The regions endpoint's default and largest page, as the SDK documents them.
_REGIONS_DEFAULT_LIMIT: Final = 100
_MAX_LIMIT: Final = 1000
_LOG_ORDERS: Final = ("time.asc", "time.desc")
# Served by set_invalid_json(): a truncated document, as from a proxy cutting the body short.
INVALID_JSON_BODY: Final = '{"count": 1, "results": [{"name": "my-inst'

# Copied verbatim from the documented example response of
# GET /cloud/v3/inference/{project_id}/deployments/{deployment_name}.
SEED_DEPLOYMENT: Final[dict[str, Any]] = {
    "address": "https://example.com",
    "auth_enabled": False,
    "command": ["nginx", "-g", "daemon off;"],
    "containers": [
        {
            "deploy_status": {"ready": 1, "total": 3},
            "region_id": 1,
            "scale": {
                "cooldown_period": 60,
                "max": 3,
                "min": 1,
                "triggers": {"cpu": {"threshold": 80}, "memory": {"threshold": 70}},
            },
        }
    ],
    "created_at": "2023-08-22T11:21:00Z",
    "credentials_name": "dockerhub",
    "description": "My first instance",
    "envs": {"DEBUG_MODE": "False", "KEY": "12345"},
    "flavor_name": "inference-16vcpu-232gib-1xh100-80gb",
    "image": "nginx:latest",
    "ingress_opts": {"disable_response_buffering": True},
    "listening_port": 8080,
    "logging": {
        "destination_region_id": 1,
        "enabled": True,
        "retention_policy": {"period": 45},
        "topic_name": "my-log-name",
    },
    "name": "my-instance",
    "probes": {
        "liveness_probe": {
            "enabled": True,
            "probe": {
                "exec": {"command": ["ls", "-l"]},
                "failure_threshold": 3,
                "http_get": {
                    "headers": {"Authorization": "Bearer token 123"},
                    "host": "127.0.0.1",
                    "path": "/healthz",
                    "port": 80,
                    "schema": "HTTP",
                },
                "initial_delay_seconds": 0,
                "period_seconds": 5,
                "success_threshold": 1,
                "tcp_socket": {"port": 80},
                "timeout_seconds": 1,
            },
        },
        "readiness_probe": {
            "enabled": True,
            "probe": {
                "exec": {"command": ["ls", "-l"]},
                "failure_threshold": 3,
                "http_get": {
                    "headers": {"Authorization": "Bearer token 123"},
                    "host": "127.0.0.1",
                    "path": "/healthz",
                    "port": 80,
                    "schema": "HTTP",
                },
                "initial_delay_seconds": 0,
                "period_seconds": 5,
                "success_threshold": 1,
                "tcp_socket": {"port": 80},
                "timeout_seconds": 1,
            },
        },
        "startup_probe": {
            "enabled": True,
            "probe": {
                "exec": {"command": ["ls", "-l"]},
                "failure_threshold": 3,
                "http_get": {
                    "headers": {"Authorization": "Bearer token 123"},
                    "host": "127.0.0.1",
                    "path": "/healthz",
                    "port": 80,
                    "schema": "HTTP",
                },
                "initial_delay_seconds": 0,
                "period_seconds": 5,
                "success_threshold": 1,
                "tcp_socket": {"port": 80},
                "timeout_seconds": 1,
            },
        },
    },
    "project_id": 1,
    "status": "ACTIVE",
    "timeout": 120,
}


def region_record(region_id: int, display_name: str) -> JSONDict:
    """One item of ``GET /cloud/v1/regions`` in the shape the official SDK's ``Region`` model reads."""
    slug = "-".join(display_name.lower().split())
    return {
        "id": region_id,
        "display_name": display_name,
        "slug": slug,
        "keystone_id": region_id,
        "keystone_name": slug.upper(),
        "access_level": "core",
        "country": "LU" if slug.startswith("luxembourg") else "NL",
        "state": "ACTIVE",
        "zone": "EMEA",
        "endpoint_type": "public",
        "has_ai": True,
        "has_ai_gpu": True,
        "has_baremetal": False,
        "has_basic_vm": True,
        "has_dbaas": False,
        "has_ddos": False,
        "has_k8s": True,
        "has_kvm": True,
        "has_sfs": False,
        "created_at": "2023-01-10T09:00:00Z",
        "created_on": "2023-01-10T09:00:00Z",
        "vlan_physical_network": "physnet1",
    }


def user_action_record(
    project_id: int,
    name: str,
    action_type: str,
    *,
    email: str | None,
    user_id: int,
    at: datetime,
    api_group: str = "inference_at_the_edge",
) -> JSONDict:
    """One entry of ``GET /cloud/v1/user_actions`` in the shape the official SDK's ``AuditLogEntry`` reads:
    an action on the inference deployment ``name`` (resource type ``inference_instance``)."""
    return {
        "id": str(uuid.uuid4()),
        "acknowledged": True,
        "action_data": None,
        "action_type": action_type,
        "api_group": api_group,
        "client_id": 1000,
        "email": email,
        "is_complete": True,
        "issued_by_user_id": None,
        "project_id": project_id,
        "region_id": None,
        "resources": [
            {
                "resource_id": name,
                "resource_type": "inference_instance",
                "resource_body": None,
                "search_field": name,
            }
        ],
        "source_user_ip": "203.0.113.7",
        "task_id": None,
        "timestamp": at.astimezone(UTC).isoformat(),
        "token_id": None,
        "total_price": None,
        "user_agent": "Mozilla/5.0",
        "user_id": user_id,
    }


def seed_deployment(**overrides: Any) -> JSONDict:
    """Return a deep copy of :data:`SEED_DEPLOYMENT` with top-level ``overrides`` applied."""
    deployment = copy.deepcopy(SEED_DEPLOYMENT)
    deployment.update(copy.deepcopy(overrides))
    return deployment


@dataclass(frozen=True, eq=False)
class RecordedRequest:
    """One request as the fake received it; ``at`` is ``time.monotonic()``. Each is itself (compared and
    hashed by identity): two alike are still two requests."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class _Failure:
    status: int
    remaining: int
    body: JSONDict | None
    headers: dict[str, str]
    path_contains: str | None
    path: str | None
    # An HTML page instead of JSON, as a proxy in front of the API answers.
    html: str | None = None

    def matches(self, request_path: str) -> bool:
        if self.path is not None:
            return request_path == self.path
        if self.path_contains is not None:
            return self.path_contains in request_path
        return request_path.startswith(_INFERENCE)


def _error(
    status: int, exception_class: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"exception_class": exception_class, "message": message}, status=status, headers=headers
    )


def _not_found(message: str) -> web.Response:
    return _error(404, "NotFound", message)


def _default_failure_body(status: int) -> JSONDict:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"exception_class": phrase.replace(" ", "").replace("-", ""), "message": phrase}


def _query_int(
    request: web.Request, name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _ValidationError(
            f"{name}: Input should be a valid integer, unable to parse string as an integer"
        ) from None
    if value < minimum:
        raise _ValidationError(f"{name}: Input should be greater than or equal to {minimum}")
    if maximum is not None and value > maximum:
        raise _ValidationError(f"{name}: Input should be less than or equal to {maximum}")
    return value


class _ValidationError(Exception):
    """Raised by query parsing; turned into a 400 by the handler wrapper."""


class FakeGcore(LoopbackServer):
    """Loopback fake of the Gcore Everywhere Inference deployments API.

    Serves ``/cloud/v3/inference/{project_id}/deployments[/{name}[/start|/stop|/logs]]``,
    ``/cloud/v1/regions`` and the audit log ``/cloud/v1/user_actions`` (``record_action``) with ``Authorization: APIKey <api_key>`` auth. Deployments are raw JSON dicts (see
    :func:`seed_deployment`). Failure injection (``fail_next``, ``set_delay``,
    ``set_invalid_json``, ``set_down``) is applied before auth, like an outage in front of the API;
    ``fail_next`` without a path and ``set_invalid_json`` hit the inference endpoints only (the regions
    endpoint fails when named: ``fail_next(..., path=REGIONS_PATH)``).
    """

    def __init__(self, api_key: str = "test-gcore-key") -> None:
        super().__init__()
        self.api_key = api_key
        self._deployments: dict[tuple[int, str], JSONDict] = {}
        self._logs: dict[tuple[int, str], list[JSONDict]] = {}
        self._regions: dict[int, str] = dict(DEFAULT_REGIONS)
        self._actions: list[JSONDict] = []
        self._requests: list[RecordedRequest] = []
        # The recorded requests whose answer is made: what it says was read.
        self._answered: set[RecordedRequest] = set()
        self._failures: list[_Failure] = []
        self._delay = 0.0
        self._path_delays: dict[str, float] = {}
        self._trickles: dict[str, float] = {}
        self._invalid_json = 0
        self._down = False
        self._page_cap = _MAX_LIMIT
        # Bumped by reset(): a request still held by a delay from before it touches no new test's state.
        self._epoch = 0

    # -- state ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to a fresh server: no deployments, logs, recorded requests or injected failures."""
        with self._lock:
            self._epoch += 1
            self._deployments.clear()
            self._logs.clear()
            self._regions = dict(DEFAULT_REGIONS)
            self._actions.clear()
            self._requests.clear()
            self._answered.clear()
            self._failures.clear()
            self._delay = 0.0
            self._path_delays.clear()
            self._trickles.clear()
            self._invalid_json = 0
            self._page_cap = _MAX_LIMIT
            self._down = False

    def set_page_cap(self, cap: int) -> None:
        """Serve at most ``cap`` items a page whatever ``limit`` asks (the count still says how many exist)."""
        with self._lock:
            self._page_cap = max(1, cap)

    def put(self, deployment: JSONDict) -> None:
        """Store (or replace) a deployment, keyed by its ``project_id`` and ``name``."""
        project_id, name = deployment.get("project_id"), deployment.get("name")
        if not isinstance(project_id, int) or isinstance(project_id, bool) or not isinstance(name, str):
            raise ValueError("a deployment needs an int 'project_id' and a str 'name'")
        with self._lock:
            self._deployments[(project_id, name)] = copy.deepcopy(deployment)

    def remove(self, project_id: int, name: str) -> None:
        """Delete a deployment (and its logs); later requests for it get 404."""
        with self._lock:
            self._deployments.pop((project_id, name), None)
            self._logs.pop((project_id, name), None)

    def set_status(self, project_id: int, name: str, status: str) -> None:
        """Set a stored deployment's ``status`` (e.g. ``"PARTIALLYDEPLOYED"``)."""
        self.update(project_id, name, status=status)

    def update(self, project_id: int, name: str, **fields: Any) -> None:
        """Overwrite top-level fields of a stored deployment; ``KeyError`` if it does not exist."""
        if "project_id" in fields or "name" in fields:
            raise ValueError("use remove() and put() to change a deployment's project_id or name")
        with self._lock:
            self._deployments[(project_id, name)].update(copy.deepcopy(fields))

    def get(self, project_id: int, name: str) -> JSONDict | None:
        """Return a copy of a stored deployment, or ``None``."""
        with self._lock:
            found = self._deployments.get((project_id, name))
            return copy.deepcopy(found) if found is not None else None

    def set_logs(self, project_id: int, name: str, entries: list[JSONDict]) -> None:
        """Set the log entries (``{"message", "pod", "region_id", "time"}``) served for a deployment."""
        with self._lock:
            self._logs[(project_id, name)] = copy.deepcopy(entries)

    def set_regions(self, names: dict[int, str]) -> None:
        """Serve these regions (``display_name`` by id) from ``GET /cloud/v1/regions``, in id order."""
        with self._lock:
            self._regions = dict(names)

    def record_action(
        self,
        project_id: int,
        name: str,
        action_type: str = "update",
        *,
        email: str | None = "alice@example.com",
        user_id: int = 7,
        at: datetime | None = None,
    ) -> JSONDict:
        """Add an entry to the audit log served by ``GET /cloud/v1/user_actions`` (at ``at``, default now)."""
        entry = user_action_record(
            project_id, name, action_type, email=email, user_id=user_id, at=at or datetime.now(UTC)
        )
        with self._lock:
            self._actions.append(entry)
        return copy.deepcopy(entry)

    # -- request log ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget recorded requests."""
        with self._lock:
            self._requests.clear()
            self._answered.clear()

    def answered_since(self, path: str, since: float) -> int:
        """How many requests for ``path`` that arrived at or after monotonic ``since`` have their answer made
        (a request is recorded as it arrives, before its answer reads the state)."""
        with self._lock:
            return sum(1 for r in self._requests if r.path == path and r.at >= since and r in self._answered)

    # -- failure injection ------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        body: JSONDict | None = None,
        headers: dict[str, str] | None = None,
        path_contains: str | None = None,
        path: str | None = None,
        html: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (whose path contains ``path_contains``, or is ``path``, if
        given; else any request to the inference endpoints) with ``status``; with ``html``, that page as
        ``text/html`` instead of a JSON body.

        ``body`` defaults to ``{"exception_class": <reason>, "message": <reason phrase>}``; with a 200 it
        stands in for the real answer (a listing whose count lies, say). Queued failures are consumed in
        order; each request consumes at most one.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._failures.append(
                _Failure(status, times, body, dict(headers or {}), path_contains, path, html)
            )

    def clear_failures(self) -> None:
        """Drop the failures ``fail_next`` still holds: the fault is over."""
        with self._lock:
            self._failures.clear()

    def set_delay(self, seconds: float, *, path: str | None = None) -> None:
        """Delay every response (or those to ``path``) by ``seconds``, 0 to turn off; the server loop is
        not blocked."""
        with self._lock:
            if path is None:
                self._delay = max(0.0, seconds)
            elif seconds > 0:
                self._path_delays[path] = seconds
            else:
                self._path_delays.pop(path, None)

    def set_trickle(self, seconds_per_byte: float, *, path: str) -> None:
        """Send answers to ``path`` one byte every ``seconds_per_byte`` (0 turns it off): each read is
        quick, the whole answer is not."""
        with self._lock:
            if seconds_per_byte > 0:
                self._trickles[path] = seconds_per_byte
            else:
                self._trickles.pop(path, None)

    def set_invalid_json(self, times: int = 1) -> None:
        """Answer the next ``times`` requests to the inference endpoints with 200 and a body that is not
        valid JSON."""
        with self._lock:
            self._invalid_json += times

    def set_down(self, down: bool = True) -> None:
        """While down, every connection is dropped without a response (clients see a transport error)."""
        with self._lock:
            self._down = down

    # -- app --------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """Routes and middleware of the fake API."""
        app = web.Application(middlewares=[self._outage_middleware, self._auth_middleware])
        base = _BASE
        app.router.add_get(base, self._list)
        app.router.add_get(base + "/{name}", self._get)
        app.router.add_post(base + "/{name}/start", self._start)
        app.router.add_post(base + "/{name}/stop", self._stop)
        app.router.add_get(base + "/{name}/logs", self._list_logs)
        app.router.add_get(REGIONS_PATH, self._list_regions)
        app.router.add_get(USER_ACTIONS_PATH, self._list_user_actions)
        return app

    @web.middleware
    async def _outage_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            at=time.monotonic(),
        )
        with self._lock:
            self._requests.append(recorded)
            epoch = self._epoch
        try:
            return await self._answer(request, handler)
        finally:
            with self._lock:
                if epoch == self._epoch:
                    self._answered.add(recorded)

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        with self._lock:
            down, epoch = self._down, self._epoch
            delay = self._delay + self._path_delays.get(request.path, 0.0)
            trickle = self._trickles.get(request.path)
        if down:
            if request.transport is not None:
                request.transport.abort()
            # Never delivered: aiohttp sees the closed transport and drops the response quietly.
            return web.Response(status=503)
        if delay:
            await self.sleep(delay)
            with self._lock:
                if epoch != self._epoch:
                    return web.Response(status=503)
        if trickle is not None:
            return await self._trickle(request, await handler(request), trickle)
        with self._lock:
            failure = next((f for f in self._failures if f.matches(request.path)), None)
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
            invalid_json = failure is None and self._invalid_json > 0 and request.path.startswith(_INFERENCE)
            if invalid_json:
                self._invalid_json -= 1
        if failure is not None:
            if failure.status in (204, 304) or failure.status < 200:
                return web.Response(status=failure.status, headers=failure.headers)
            if failure.html is not None:
                return web.Response(
                    status=failure.status,
                    text=failure.html,
                    content_type="text/html",
                    headers=failure.headers,
                )
            body = failure.body if failure.body is not None else _default_failure_body(failure.status)
            return web.json_response(body, status=failure.status, headers=failure.headers)
        if invalid_json:
            return web.Response(status=200, text=INVALID_JSON_BODY, content_type="application/json")
        return await handler(request)

    async def _trickle(
        self, request: web.Request, answer: web.StreamResponse, every: float
    ) -> web.StreamResponse:
        body = answer.body if isinstance(answer, web.Response) and isinstance(answer.body, bytes) else b""
        stream = web.StreamResponse(status=answer.status, headers={"Content-Type": "application/json"})
        stream.content_length = len(body)
        await stream.prepare(request)
        try:
            for index in range(len(body)):
                await stream.write(body[index : index + 1])
                await self.sleep(every)
                with self._lock:
                    if request.path not in self._trickles:
                        every = 0.0
            await stream.write_eof()
        except ConnectionResetError:
            # The client gave up on the answer (its deadline, or its bot stopped): as for a real server, that
            # ends the answer; aiohttp would log a traceback into whichever test runs next.
            pass
        return stream

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "apikey" or key.strip() != self.api_key:
            return _error(401, "NotAuthenticated", "Invalid API key")
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _not_found("Not found.")
        except web.HTTPMethodNotAllowed as exc:
            return web.json_response(
                {"exception_class": "MethodNotAllowed", "message": f'Method "{request.method}" not allowed.'},
                status=405,
                headers={"Allow": ",".join(sorted(exc.allowed_methods))},
            )
        except _ValidationError as exc:
            return _error(400, "ValidationError", str(exc))
        except _DeploymentNotFound as exc:
            return _not_found(f"Inference instance {exc.name} not found")

    # -- handlers -----------------------------------------------------------------------------

    @staticmethod
    def _project_id(request: web.Request) -> int:
        raw = request.match_info["project_id"]
        if not (raw.isascii() and raw.isdigit()):
            raise web.HTTPNotFound()
        return int(raw)

    async def _list(self, request: web.Request) -> web.Response:
        project_id = self._project_id(request)
        limit = _query_int(request, "limit", _MAX_LIMIT, minimum=1, maximum=_MAX_LIMIT)
        offset = _query_int(request, "offset", 0, minimum=0)
        with self._lock:
            items = sorted(
                (d for (pid, _), d in self._deployments.items() if pid == project_id),
                key=lambda d: str(d["name"]),
            )
            limit = min(limit, self._page_cap)
            # Serialized under the lock instead of deep-copied: the fake must not be the slow side of a benchmark.
            body = json.dumps({"count": len(items), "results": items[offset : offset + limit]})
        return web.Response(text=body, content_type="application/json")

    def _lookup(self, request: web.Request) -> tuple[int, str]:
        project_id = self._project_id(request)
        name = request.match_info["name"]
        with self._lock:
            if (project_id, name) not in self._deployments:
                raise _DeploymentNotFound(name)
        return project_id, name

    async def _get(self, request: web.Request) -> web.Response:
        key = self._lookup(request)
        with self._lock:
            deployment = copy.deepcopy(self._deployments[key])
        return web.json_response(deployment)

    async def _start(self, request: web.Request) -> web.Response:
        return self._set_status_from_request(request, "DEPLOYING")

    async def _stop(self, request: web.Request) -> web.Response:
        return self._set_status_from_request(request, "DISABLED")

    def _set_status_from_request(self, request: web.Request, status: str) -> web.Response:
        key = self._lookup(request)
        with self._lock:
            self._deployments[key]["status"] = status
        return web.Response(status=204)

    async def _list_logs(self, request: web.Request) -> web.Response:
        key = self._lookup(request)
        limit = _query_int(request, "limit", _MAX_LIMIT, minimum=1, maximum=_MAX_LIMIT)
        offset = _query_int(request, "offset", 0, minimum=0)
        order_by = request.query.get("order_by") or "time.desc"
        if order_by not in _LOG_ORDERS:
            raise _ValidationError(f"order_by: Input should be {' or '.join(repr(o) for o in _LOG_ORDERS)}")
        region_raw = request.query.get("region_id")
        region_id = None if region_raw in (None, "") else _query_int(request, "region_id", 0, minimum=0)
        with self._lock:
            entries = copy.deepcopy(self._logs.get(key, []))
        if region_id is not None:
            entries = [e for e in entries if e.get("region_id") == region_id]
        entries.sort(key=lambda e: str(e.get("time", "")), reverse=order_by == "time.desc")
        return web.json_response({"count": len(entries), "results": entries[offset : offset + limit]})

    async def _list_regions(self, request: web.Request) -> web.Response:
        limit = _query_int(request, "limit", _REGIONS_DEFAULT_LIMIT, minimum=1, maximum=_MAX_LIMIT)
        offset = _query_int(request, "offset", 0, minimum=0)
        with self._lock:
            items = [region_record(rid, name) for rid, name in sorted(self._regions.items())]
        return web.json_response({"count": len(items), "results": items[offset : offset + limit]})

    async def _list_user_actions(self, request: web.Request) -> web.Response:
        """The audit log, filtered as the API documents it: any of ``api_group``, ``project_id``,
        ``resource_id``, ``action_type`` (each repeatable), ``search_field``, ``from_timestamp`` and
        ``to_timestamp`` (ISO 8601), ``order_by`` ``asc`` or ``desc``, ``limit``/``offset`` pages."""
        limit = _query_int(request, "limit", _REGIONS_DEFAULT_LIMIT, minimum=1, maximum=_MAX_LIMIT)
        offset = _query_int(request, "offset", 0, minimum=0)
        order_by = request.query.get("order_by") or "desc"
        if order_by not in ("asc", "desc"):
            raise _ValidationError("order_by: Input should be 'asc' or 'desc'")
        since, until = _query_time(request, "from_timestamp"), _query_time(request, "to_timestamp")
        groups = set(request.query.getall("api_group", []))
        projects = set(request.query.getall("project_id", []))
        resources = set(request.query.getall("resource_id", []))
        kinds = set(request.query.getall("action_type", []))
        search = request.query.get("search_field")
        with self._lock:
            entries = copy.deepcopy(self._actions)

        def wanted(entry: JSONDict) -> bool:
            at = datetime.fromisoformat(entry["timestamp"])
            touched = entry["resources"]
            return (
                (not groups or entry["api_group"] in groups)
                and (not projects or str(entry["project_id"]) in projects)
                and (not kinds or entry["action_type"] in kinds)
                and (not resources or any(r["resource_id"] in resources for r in touched))
                and (search is None or any(search in (r.get("search_field") or "") for r in touched))
                and (since is None or at >= since)
                and (until is None or at <= until)
            )

        found = sorted(
            filter(wanted, entries),
            key=lambda e: datetime.fromisoformat(e["timestamp"]),
            reverse=order_by == "desc",
        )
        return web.json_response({"count": len(found), "results": found[offset : offset + limit]})


def _query_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _ValidationError(f"{name}: Input should be a valid datetime") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _DeploymentNotFound(Exception):
    """Raised by handlers for an unknown deployment; answered as Gcore's 404."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name
