"""Region names by id, for cards and alerts to say "Amsterdam" where the API says ``region_id: 100``.

Names change rarely, so one lookup serves an hour; it happens when someone needs the names after that
(never on a timer). A lookup that fails or takes longer than ``timeout`` costs a card nothing but the
names: callers get the last good map, or an empty one, and show the id. It is logged once per run of
failures, and not tried again for ``retry_after`` seconds, so a broken endpoint does not slow every card.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Protocol

from bot.gcore.errors import GcoreError, failure_reason
from bot.gcore.models import Region

log = logging.getLogger(__name__)

NAMES_TTL_SECONDS = 3600.0
# A card waits at most this for the names; Gcore's own deadline is longer, and meant for deployments.
LOOKUP_TIMEOUT_SECONDS = 2.0
RETRY_AFTER_FAILURE_SECONDS = 60.0
_EMPTY: Mapping[int, str] = MappingProxyType({})


class RegionSource(Protocol):
    """Where the names come from: ``GcoreClient`` in the program, anything alike in tests."""

    async def list_regions(self) -> Sequence[Region]: ...


class RegionNames:
    """``display_name`` by region id, cached for ``ttl`` seconds of ``clock`` and refreshed lazily.

    ``names()`` never raises and never waits longer than ``timeout``; callers asking together share one
    lookup.
    """

    def __init__(
        self,
        source: RegionSource,
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = NAMES_TTL_SECONDS,
        timeout: float = LOOKUP_TIMEOUT_SECONDS,
        retry_after: float = RETRY_AFTER_FAILURE_SECONDS,
    ) -> None:
        self._source = source
        self._clock = clock
        self._ttl, self._timeout, self._retry_after = ttl, timeout, retry_after
        self._names: Mapping[int, str] = _EMPTY
        # When the names must be looked up again: at once at first, ``ttl`` after a success,
        # ``retry_after`` after a failure.
        self._due: float | None = None
        self._failing = False
        self._lookup: asyncio.Task[None] | None = None

    async def names(self) -> Mapping[int, str]:
        """The names by id: fresh, else the last good ones, else none."""
        if self._due is not None and self._clock() < self._due:
            return self._names
        if self._lookup is None or self._lookup.done():
            self._lookup = asyncio.create_task(self._refresh())
        # Shielded: one caller giving up (its command cancelled) does not end the lookup the others wait on.
        await asyncio.shield(self._lookup)
        return self._names

    async def aclose(self) -> None:
        """Stop a lookup under way (at shutdown, before the client it uses is closed)."""
        if self._lookup is not None and not self._lookup.done():
            self._lookup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lookup

    async def _refresh(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                regions = await self._source.list_regions()
        except (GcoreError, TimeoutError) as error:
            # The reason's short code, not the error's words: those can quote what Gcore or a proxy sent.
            self._failed(
                failure_reason(error)
                if isinstance(error, GcoreError)
                else f"no answer within {self._timeout:g} s"
            )
            return
        except Exception as error:  # a bug here must not cost a card more than its region names
            self._failed(type(error).__name__)
            log.debug("region names lookup failed", exc_info=True)
            return
        self._names = MappingProxyType({region.id: region.display_name for region in regions})
        self._due = self._clock() + self._ttl
        if self._failing:
            log.info("region names are available again (%d regions)", len(regions))
        self._failing = False

    def _failed(self, why: str) -> None:
        self._due = self._clock() + self._retry_after
        if not self._failing:
            log.warning(
                "region names unavailable, showing region ids%s: %s",
                " (keeping the last names)" if self._names else "",
                why,
            )
        self._failing = True
