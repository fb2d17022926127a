"""A thin async client of Gcore's Everywhere Inference API (cloud v3).

One pooled ``httpx.AsyncClient`` per process. Transient failures (connection errors, 429, 502/503/504) are
retried with exponential backoff and full jitter, honouring ``Retry-After`` (a start or a stop only when
Gcore surely did not act on it); other answers become typed errors. The API key lives only in the pooled client's default headers: it never appears in a log line, an
exception message or anything shown in Slack.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.gcore.errors import (
    DeploymentNotFound,
    GcoreAuthError,
    GcoreIncompleteListing,
    GcoreInvalidResponse,
    GcoreRateLimited,
    GcoreRequestRejected,
    GcoreUnavailable,
    ProjectNotFound,
)
from bot.gcore.models import (
    Deployment,
    DeploymentStatusView,
    LogEntry,
    LogPage,
    Region,
    UserAction,
    UserActionResource,
)
from bot.gcore.outcomes import endpoint_of, outcome_of
from bot.gcore.parsing import ModelT, RawPage, UnreadableItem, parse, parse_items
from bot.gcore.retry import RETRY_STATUSES, RetryPolicy, retry_after_of
from bot.masking import mask_secrets

log = logging.getLogger(__name__)

# The list endpoint's largest page.
MAX_PAGE_SIZE = 1000
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Requests in flight at once. Beyond the pool's size httpcore queues requests itself, and its queue costs
# O(queued × connections) per event: under a slow Gcore that took half the bot's CPU (docs/performance.md).
# Waiting on a semaphore instead is O(1), and the pool timeout no longer counts the wait.
MAX_CONCURRENT_REQUESTS = 50
# A whole answer must arrive within this, however slowly it trickles in: httpx's timeouts are per read.
REQUEST_DEADLINE_SECONDS = 15.0
# Whatever a listing's count claims, no more pages than this are read (100,000 deployments at 1000 a page).
MAX_LIST_PAGES = 100
REGIONS_PATH = "/cloud/v1/regions"
# Gcore's audit log; reading it needs a key whose user may read the account's user actions.
USER_ACTIONS_PATH = "/cloud/v1/user_actions"
# Gcore has a few dozen regions; however many pages the count claims, no more than this are read.
MAX_REGION_PAGES = 10


def _api_message(response: httpx.Response) -> str:
    """Gcore's reason for refusing a request, for the bot's log only, with the request's own credential and
    whatever looks like a secret masked: a proxy or an API that echoes the request would hold the key."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = response.reason_phrase
    if isinstance(body, dict):
        message = next(
            (body[k] for k in ("message", "detail", "error") if isinstance(body.get(k), str)), message
        )
    credential = response.request.headers.get("Authorization", "").partition(" ")[2]
    return mask_secrets(message, credential)


@dataclass(frozen=True)
class PageShape:
    """What a caller remembers of one page of a listing: a digest of its bytes, its items and its count."""

    digest: bytes
    items: int
    count: int


@dataclass
class StatusListing:
    """A project's listing as the watcher reads it.

    ``deployments`` is None when every page is byte for byte what ``known`` describes; ``pages`` describes
    this listing, for the caller to pass back next time.
    """

    pages: tuple[PageShape, ...]
    deployments: list[DeploymentStatusView] | None
    unreadable: list[UnreadableItem] = field(default_factory=list)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Verification against the CA bundle, loaded once per process (~50 ms of CPU a load) and shared by
    every client: a context holds settings, not connections, and bots started in one process (tests) would
    each load it again."""
    return httpx.create_ssl_context()


class GcoreClient:
    """Async client of the inference deployment endpoints."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        deadline: float = REQUEST_DEADLINE_SECONDS,
        max_in_flight: int = MAX_CONCURRENT_REQUESTS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
        tls: ssl.SSLContext | None = None,
        observe: Callable[[str, str], None] = lambda endpoint, outcome: None,
    ) -> None:
        """``observe`` hears of each attempt: its endpoint and outcome (``bot.gcore.outcomes``)."""
        self._http = httpx.AsyncClient(
            verify=tls or True,
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"APIKey {api_key}", "Accept": "application/json"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=20),
            transport=transport,
        )
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._deadline = deadline
        self._retry = retry or RetryPolicy()
        self._sleep, self._observe = sleep, observe

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def get_deployment(self, project_id: int, name: str) -> Deployment:
        """One deployment; ``DeploymentNotFound`` when the project has none of that name."""
        return await self._get_one(project_id, name, Deployment)

    async def get_deployment_status(self, project_id: int, name: str) -> DeploymentStatusView:
        """The watcher's view of one deployment; ``DeploymentNotFound`` when it does not exist."""
        return await self._get_one(project_id, name, DeploymentStatusView)

    async def _get_one(self, project_id: int, name: str, model: type[ModelT]) -> ModelT:
        response = await self._request("GET", f"{_deployments_path(project_id)}/{quote(name, safe='')}")
        if response.status_code == 404:
            raise DeploymentNotFound(project_id, name)
        return parse(response, model)

    async def list_deployments(self, project_id: int, page_size: int = MAX_PAGE_SIZE) -> list[Deployment]:
        """Every deployment of the project, following ``limit``/``offset`` pages to the end.

        Items that do not parse are left out (and logged), so one odd deployment does not hide the rest.
        """
        deployments: list[Deployment] = []
        for page in await self._all_pages(project_id, page_size, ()):
            items, unreadable = _page_items(page, Deployment, len(deployments))
            for item in unreadable:
                log.warning(
                    "project %d: left an unreadable deployment out of a list (%s)", project_id, item.cause
                )
            deployments.extend(items)
        return deployments

    async def list_statuses(
        self, project_id: int, known: Sequence[PageShape] = (), page_size: int = MAX_PAGE_SIZE
    ) -> StatusListing:
        """Every deployment's name, status and containers, or no deployments when every page is byte for
        byte the one ``known`` describes.

        Most polls change nothing, and parsing is most of a poll's CPU (docs/performance.md): an unchanged
        project costs one digest per page. What ``known`` describes belongs to the caller, so a user's
        ``/inference list`` never makes the watcher believe nothing changed.
        """
        read = await self._all_pages(project_id, page_size, known)
        shapes = tuple(page.shape for page in read)
        if known and shapes == tuple(known):
            return StatusListing(pages=shapes, deployments=None)
        deployments: list[DeploymentStatusView] = []
        unreadable: list[UnreadableItem] = []
        for page in read:
            items, skipped = _page_items(page, DeploymentStatusView, len(deployments) + len(unreadable))
            deployments.extend(items)
            unreadable.extend(skipped)
        return StatusListing(pages=shapes, deployments=deployments, unreadable=unreadable)

    async def _all_pages(self, project_id: int, page_size: int, known: Sequence[PageShape]) -> list[_Page]:
        """Every page of the project's list: its answer, its shape, and its items when they were read
        (a page ``known`` describes is only hashed).

        Raises ``GcoreIncompleteListing`` when the pages do not add up to their count: a page that repeats
        the one before (``offset`` ignored), an empty page before the end, or more pages than the count
        allows. The bound holds whatever the count claims.
        """
        read: list[_Page] = []
        pages: list[PageShape] = []
        seen = 0
        max_pages = MAX_LIST_PAGES
        while True:
            if len(pages) >= max_pages:
                raise GcoreIncompleteListing(project_id, f"still short of its count after {len(pages)} pages")
            response = await self._request(
                "GET", _deployments_path(project_id), params={"limit": page_size, "offset": seen}
            )
            if response.status_code == 404:
                raise ProjectNotFound(project_id)
            digest = hashlib.blake2b(response.content, digest_size=16).digest()
            if pages and digest == pages[-1].digest:
                raise GcoreIncompleteListing(project_id, f"page {len(pages) + 1} repeats the one before")
            index = len(pages)
            items: list[Any] | None = None
            if index < len(known) and known[index].digest == digest:
                page = known[index]
            else:
                raw = parse(response, RawPage)
                items, page = raw.results, PageShape(digest, len(raw.results), raw.count)
            if not pages:
                # The first page's size is what the server really serves, whatever ``limit`` asked.
                max_pages = min(MAX_LIST_PAGES, -(-page.count // max(page.items, 1)) + 1)
            read.append(_Page(response, page, items))
            pages.append(page)
            seen += page.items
            if not page.items or seen >= page.count:
                break
        counts = {page.count for page in pages}
        if len(counts) != 1 or seen != pages[0].count:
            raise GcoreIncompleteListing(
                project_id, f"{seen} items in {len(pages)} pages for counts {sorted(counts)}"
            )
        return read

    async def start_deployment(self, project_id: int, name: str) -> None:
        """Ask Gcore to start (deploy) a stopped deployment."""
        await self._post_action(project_id, name, "start")

    async def stop_deployment(self, project_id: int, name: str) -> None:
        """Ask Gcore to stop (disable) a deployment."""
        await self._post_action(project_id, name, "stop")

    async def get_logs(
        self, project_id: int, name: str, *, limit: int = 50, offset: int = 0, region_id: int | None = None
    ) -> list[LogEntry]:
        """The deployment's newest log lines first."""
        params: dict[str, Any] = {"limit": limit, "offset": offset, "order_by": "time.desc"}
        if region_id is not None:
            params["region_id"] = region_id
        response = await self._request(
            "GET", f"{_deployments_path(project_id)}/{quote(name, safe='')}/logs", params=params
        )
        if response.status_code == 404:
            raise DeploymentNotFound(project_id, name)
        return parse(response, LogPage).results

    async def list_regions(self) -> list[Region]:
        """Every region of Gcore's cloud (``GET /cloud/v1/regions``), following pages to the count; items
        that do not parse are left out."""
        regions: list[Region] = []
        seen = 0
        for _ in range(MAX_REGION_PAGES):
            response = await self._request(
                "GET", REGIONS_PATH, params={"limit": MAX_PAGE_SIZE, "offset": seen}
            )
            page = parse(response, RawPage)
            regions.extend(parse_items(page.results, Region)[0])
            seen += len(page.results)
            if not page.results or seen >= page.count:
                return regions
        raise GcoreInvalidResponse(f"regions still short of their count after {MAX_REGION_PAGES} pages")

    async def user_actions(
        self, project_id: int, name: str, since: datetime, until: datetime, *, limit: int = 50
    ) -> list[UserAction]:
        """The audit log's actions on the deployment between ``since`` and ``until``, newest first (one
        page). ``GcoreAuthError`` when the key may not read the audit log."""
        params: dict[str, Any] = {
            "api_group": "inference_at_the_edge",
            "project_id": project_id,
            "search_field": name,
            "from_timestamp": since.isoformat(),
            "to_timestamp": until.isoformat(),
            "order_by": "desc",
            "limit": limit,
        }
        page = parse(await self._request("GET", USER_ACTIONS_PATH, params=params), RawPage)
        actions = parse_items(page.results, UserAction)[0]
        return [a for a in actions if any(_names(r, name) for r in a.resources)]

    async def _post_action(self, project_id: int, name: str, action: str) -> None:
        response = await self._request(
            "POST", f"{_deployments_path(project_id)}/{quote(name, safe='')}/{action}", idempotent=False
        )
        if response.status_code == 404:
            raise DeploymentNotFound(project_id, name)
        if not response.is_success:
            raise GcoreInvalidResponse(f"HTTP {response.status_code} on {action}")

    async def _request(
        self, method: str, path: str, params: dict[str, Any] | None = None, *, idempotent: bool = True
    ) -> httpx.Response:
        """Send with retries; return any answer that is not transient and not an auth or client error.
        A start or stop (not ``idempotent``) is sent again only when Gcore surely did not act on it: no
        connection, or a 429. A 502-504 or a dropped connection may follow the action, so those end it."""
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self._retry.attempts
            try:
                response = await self._attempt(method, path, params)
            except TimeoutError:
                raise GcoreUnavailable(
                    f"no whole answer within {self._deadline:g} s on {method} {path}"
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                sent = isinstance(exc, httpx.RemoteProtocolError)
                if last or (sent and not idempotent):
                    raise GcoreUnavailable(f"{type(exc).__name__} on {method} {path}") from None
                delay = self._retry.backoff(attempt)
                log.warning(
                    "Gcore %s %s: %s, retry %d in %.2f s", method, path, type(exc).__name__, attempt, delay
                )
                await self._sleep(delay)
                continue
            except httpx.TimeoutException as exc:
                raise GcoreUnavailable(f"{type(exc).__name__} on {method} {path}") from None
            except httpx.HTTPError as exc:
                raise GcoreUnavailable(f"{type(exc).__name__} on {method} {path}") from None

            status = response.status_code
            if status in RETRY_STATUSES:
                retry_after = retry_after_of(response) if status == 429 else None
                too_long = retry_after is not None and retry_after > self._retry.max_retry_after
                if last or too_long or (status != 429 and not idempotent):
                    if status == 429:
                        raise GcoreRateLimited(retry_after)
                    raise GcoreUnavailable(f"HTTP {status} on {method} {path}", status)
                delay = retry_after if retry_after is not None else self._retry.backoff(attempt)
                log.warning("Gcore %s %s: HTTP %d, retry %d in %.2f s", method, path, status, attempt, delay)
                await self._sleep(delay)
                continue
            if status in (401, 403):
                raise GcoreAuthError(status)
            if status >= 500:
                raise GcoreUnavailable(f"HTTP {status} on {method} {path}", status)
            if 400 <= status < 500 and status != 404:
                raise GcoreRequestRejected(status, _api_message(response))
            return response

    async def _attempt(self, method: str, path: str, params: dict[str, Any] | None) -> httpx.Response:
        """One request within the deadline, its endpoint and outcome told to the observer."""
        try:
            async with self._in_flight, asyncio.timeout(self._deadline):
                response = await self._http.request(method, path, params=params)
        except Exception as error:
            self._observe(endpoint_of(path), outcome_of(error))
            raise
        self._observe(endpoint_of(path), outcome_of(response))
        return response


def _names(resource: UserActionResource, name: str) -> bool:
    """Whether an audit log resource is the inference deployment ``name``."""
    return resource.resource_type == "inference_instance" and name in (
        resource.resource_id,
        resource.search_field,
    )


def _deployments_path(project_id: int) -> str:
    return f"/cloud/v3/inference/{project_id}/deployments"


@dataclass(frozen=True)
class _Page:
    """One page of a listing as ``_all_pages`` read it; ``items`` is None where only its digest was taken."""

    response: httpx.Response
    shape: PageShape
    items: list[Any] | None


def _page_items(
    page: _Page, model: type[ModelT], first_position: int
) -> tuple[list[ModelT], list[UnreadableItem]]:
    """A page's items that parse, and those that do not; a page that is not a listing at all raises."""
    raw = page.items if page.items is not None else parse(page.response, RawPage).results
    return parse_items(raw, model, first_position)
