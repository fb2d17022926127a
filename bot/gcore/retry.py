"""When a request to Gcore is tried again: which answers are transient, and how long to wait."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on a transient failure."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 4.0
    # A longer Retry-After than this is not waited out: the person in Slack hears "rate limited" instead.
    max_retry_after: float = 20.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before retry number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def retry_after_of(response: httpx.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks for; None when there is none that reads as a number."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
