"""The bot's Prometheus metrics (``GET /metrics``): one registry per bot, never the library's global one (tests
run several bots in one process), the instruments the bot's parts record into, and the gauges read from the
store when Prometheus scrapes.

Labels are bounded and say nothing secret: endpoint templates (``deployments.get``, never a path with a
deployment's name), HTTP status codes, Slack error codes and method names, transition kinds, delivery
outcomes. No channel, deployment name or user appears in any of them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from bot.watch.transitions import AlertKind, Transition

log = logging.getLogger(__name__)

NAMESPACE = "inference_bot"
# The classic text format every Prometheus reads (what prometheus_client serves without content negotiation).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# A scrape waits this long for the store's gauges, then leaves them out.
STORE_SECONDS = 2.0
# What Slack's ack deadline (3 s) makes interesting: mostly milliseconds.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0)
# A cycle is a few requests, each bounded by GCORE_REQUEST_DEADLINE_SECONDS (15 s) and retries.
CYCLE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A Slack error code (``channel_not_found``), or what ``bot.slack.errors.classify`` names a failure without
# one (``HTTP 500``, ``ClientConnectorError``); anything else is counted as ``other``.
_SLACK_CODE = re.compile(r"[A-Za-z0-9_ ]{1,64}")

AckPath = Literal["fast", "bolt"]


class StoreReadings(Protocol):
    """What the scrape reads from the store (``bot.store.Store``)."""

    async def subscription_count(self) -> int:
        """How many subscriptions there are."""

    async def oldest_open_delivery(self) -> datetime | None:
        """When the oldest alert not yet delivered was recorded; None when every one is."""

    async def delivery_outcomes(self) -> dict[str, int]:
        """Deliveries by outcome, since the database began."""


@dataclass(frozen=True)
class _Readings:
    subscriptions: int
    oldest_open_age: float
    deliveries: dict[str, int]


class _StoreMetrics:
    """The metrics read from the store at the last scrape; absent when the store did not answer."""

    def __init__(self) -> None:
        self.readings: _Readings | None = None

    def collect(self) -> Iterable[Metric]:
        """The metrics as of the last scrape (prometheus_client's collector protocol)."""
        if self.readings is None:
            return []
        deliveries = CounterMetricFamily(
            f"{NAMESPACE}_deliveries",
            "Alert deliveries by outcome: posted (done, with a message of its own), updated (done as an "
            "edit alone), skipped (its channel was paused), failed (given up), retried (failed attempts "
            "tried again). Counted in the database: every replica reports the same totals.",
            labels=["outcome"],
        )
        for outcome, count in sorted(self.readings.deliveries.items()):
            deliveries.add_metric([outcome], count)
        return [
            deliveries,
            GaugeMetricFamily(
                f"{NAMESPACE}_subscriptions",
                "Subscriptions (channel, project, deployment or all), paused ones included.",
                value=self.readings.subscriptions,
            ),
            GaugeMetricFamily(
                f"{NAMESPACE}_oldest_open_delivery_age_seconds",
                "Age of the oldest alert recorded but not yet delivered to its channel; 0 when none is open.",
                value=self.readings.oldest_open_age,
            ),
        ]


class Metrics:
    """One bot's metrics: its registry and the instruments its parts record into."""

    def __init__(
        self, store: StoreReadings | None = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        """``store`` answers the gauges read at scrape time (none without it); ``clock`` dates their ages."""
        # The text format would show each counter's creation time as a series of its own: noise. (A switch
        # of the library's, the same for every registry.)
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self._store, self._clock = store, clock or (lambda: datetime.now(UTC))
        self._from_store = _StoreMetrics()
        self.registry.register(self._from_store)
        # One read of the store at a time: a scrape that overlaps it (or comes while a slow database still
        # answers one that timed out) waits for it instead of starting more queries in the store's threads.
        self._read: asyncio.Task[None] | None = None
        registry, ns = self.registry, NAMESPACE
        self.watch_cycle_seconds = Histogram(
            "watch_cycle_seconds",
            "Duration of a watch cycle of this replica: every project it leases polled and recorded.",
            namespace=ns,
            buckets=CYCLE_BUCKETS,
            registry=registry,
        )
        self.gcore_requests = Counter(
            "gcore_requests",
            "Requests to Gcore, each attempt counted, by endpoint template and outcome: ok, the HTTP "
            "status code of an error answer, timeout, or connection.",
            ["endpoint", "outcome"],
            namespace=ns,
            registry=registry,
        )
        self.transitions = Counter(
            "transitions",
            "Transitions recorded by the watcher, by kind (changed, stuck, recovered, gcore_unreachable, ...).",
            ["kind"],
            namespace=ns,
            registry=registry,
        )
        self.slack_api_errors = Counter(
            "slack_api_errors",
            "Slack Web API calls that failed (after slack_sdk's own retries, for people's requests), by "
            "Slack's error code and the method called.",
            ["code", "method"],
            namespace=ns,
            registry=registry,
        )
        self.ack_seconds = Histogram(
            "ack_seconds",
            "Time from a signed Slack request's arrival to its acknowledgement: path fast (slash commands "
            "and clicks, acked before Bolt runs) or bolt (acked by Bolt: view submissions, events).",
            ["path"],
            namespace=ns,
            buckets=ACK_BUCKETS,
            registry=registry,
        )
        self.leased_projects = Gauge(
            "leased_projects",
            "Watched projects this replica polls: all of them with SQLite, its lease of them with "
            "PostgreSQL (about an equal share per live replica). Set by each watch cycle.",
            namespace=ns,
            registry=registry,
        )
        # Every kind and path from the start, at 0: rates and alerts need no series to appear first.
        for kind in AlertKind:
            self.transitions.labels(kind=kind.value)
        for path in ("fast", "bolt"):
            self.ack_seconds.labels(path=path)

    def count_gcore_request(self, endpoint: str, outcome: str) -> None:
        """One attempt of a Gcore request (``bot.gcore.client.GcoreClient``'s observer)."""
        self.gcore_requests.labels(endpoint=endpoint, outcome=outcome).inc()

    def count_slack_error(self, method: str, code: str) -> None:
        """One failed Web API call (``bot.slack.api.SlackApi``'s observer)."""
        code, method = (word if _SLACK_CODE.fullmatch(word) else "other" for word in (code, method))
        self.slack_api_errors.labels(code=code, method=method).inc()

    def count_transitions(self, recorded: Iterable[Transition]) -> None:
        """The transitions a poll recorded."""
        for transition in recorded:
            self.transitions.labels(kind=transition.kind.value).inc()

    def observe_ack(self, path: AckPath, seconds: float) -> None:
        """One acknowledged Slack request."""
        self.ack_seconds.labels(path=path).observe(seconds)

    async def exposition(self) -> bytes:
        """The text format of every metric, with the store's read now (in the store's worker threads,
        bounded: the event loop never waits on the database, and one read runs at a time)."""
        if self._store is not None:
            if self._read is None or self._read.done():
                self._read = asyncio.create_task(self._read_store(self._store), name="metrics-store")
            try:
                async with asyncio.timeout(STORE_SECONDS):
                    await asyncio.shield(self._read)
            except TimeoutError:
                log.warning(
                    "metrics: the store did not answer within %.0f s; its metrics left out", STORE_SECONDS
                )
                self._from_store.readings = None
        return generate_latest(self.registry)

    async def _read_store(self, store: StoreReadings) -> None:
        try:
            subscriptions, oldest, deliveries = await asyncio.gather(
                store.subscription_count(), store.oldest_open_delivery(), store.delivery_outcomes()
            )
        except Exception as error:
            log.warning("metrics: the store did not answer (%s); its metrics left out", type(error).__name__)
            self._from_store.readings = None
        else:
            age = 0.0 if oldest is None else max(0.0, (self._clock() - oldest).total_seconds())
            self._from_store.readings = _Readings(subscriptions, age, deliveries)
