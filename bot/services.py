"""The collaborators every handler needs, built once and passed in (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.config import Settings
from bot.gcore import GcoreClient
from bot.health import Health
from bot.store import Store


def utc_now() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(UTC)


@dataclass
class Services:
    """Settings, the Gcore client, the store, health and the clock, shared by every handler."""

    settings: Settings
    gcore: GcoreClient
    store: Store
    health: Health = field(default_factory=Health)
    clock: Callable[[], datetime] = field(default=utc_now)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """The services the real program uses."""
        gcore = GcoreClient(str(settings.gcore_base_url), settings.gcore_api_key.get_secret_value())
        return cls(settings=settings, gcore=gcore, store=Store(settings.database_url))

    async def aclose(self) -> None:
        """Release pooled connections."""
        await self.gcore.aclose()
        self.store.close()
