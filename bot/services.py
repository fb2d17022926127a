"""The collaborators every handler needs, built once and passed in (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from bot.access import Access
from bot.config import Settings
from bot.gcore.client import GcoreClient, tls_context
from bot.gcore.regions import RegionNames
from bot.health import Health
from bot.metrics import Metrics
from bot.slack.api import SlackApi, web_client
from bot.store import Store
from bot.watch.home import HomePublisher


def utc_now() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(UTC)


# Requests the watcher may have in flight: its own pool, so users' commands never take its capacity.
WATCHER_IN_FLIGHT = 16


@dataclass
class Services:
    """Settings, the Gcore clients, the store, the Slack Web API, access rules, health, metrics and the
    clock, shared by every handler.

    ``gcore`` serves people's commands and ``watch_gcore`` the watcher, each with its own connections and
    its own bound on requests in flight: sixty slow ``status`` commands must not stop the polls.
    """

    settings: Settings
    gcore: GcoreClient
    watch_gcore: GcoreClient
    store: Store
    slack: SlackApi
    # Region names for cards and alerts, looked up through ``gcore`` and cached.
    regions: RegionNames
    # Who may see and do what (docs/security.md).
    access: Access
    health: Health = field(default_factory=Health)
    # This bot's own Prometheus registry and instruments (``GET /metrics``).
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = field(default=utc_now)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """The services the real program uses; ``DatabaseInUse`` when another process has the SQLite file."""
        store = Store(settings.database_url)
        metrics = Metrics(store)
        base_url, key = str(settings.gcore_base_url), settings.gcore_api_key.get_secret_value()
        deadline = settings.gcore_request_deadline_seconds
        tls = tls_context()
        token, slack_url = settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url)
        gcore = GcoreClient(base_url, key, deadline=deadline, tls=tls, observe=metrics.count_gcore_request)
        slack = SlackApi(web_client(token, slack_url, for_alerts=False), on_error=metrics.count_slack_error)
        return cls(
            settings=settings,
            gcore=gcore,
            watch_gcore=GcoreClient(
                base_url,
                key,
                deadline=deadline,
                max_in_flight=WATCHER_IN_FLIGHT,
                tls=tls,
                observe=metrics.count_gcore_request,
            ),
            store=store,
            slack=slack,
            regions=RegionNames(gcore),
            access=Access(settings, slack),
            metrics=metrics,
        )

    @cached_property
    def home(self) -> HomePublisher:
        """The one Home tab publisher: the tab's opening and the rounds after polls publish at one pace."""
        return HomePublisher(
            self.slack,
            self.store,
            self.access,
            self.regions,
            clock=self.clock,
            portal_url=self.settings.gcore_portal_url,
        )

    async def aclose(self) -> None:
        """Release pooled connections."""
        await self.regions.aclose()
        await self.gcore.aclose()
        await self.watch_gcore.aclose()
        self.store.close()
