"""Slack Web API failures, classified once so the notifier acts on a small set of cases."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from slack_sdk.errors import SlackApiError

CHANNEL_GONE_ERRORS = frozenset({"channel_not_found", "is_archived", "not_in_channel"})
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})
DEFAULT_RETRY_AFTER = 1.0


class SlackFailureKind(StrEnum):
    """What to do about a failed Web API call."""

    RATE_LIMITED = "rate_limited"  # wait Retry-After, try again
    CHANNEL_GONE = "channel_gone"  # pause the channel's subscriptions, tell their creators
    AUTH = "auth"  # the token is dead: report unhealthy
    TRANSIENT = "transient"  # network or Slack trouble: try again next round
    REJECTED = "rejected"  # Slack refused this message: count the attempt


@dataclass(frozen=True)
class SlackFailure:
    """A classified failure: its kind, Slack's error code, and how long Slack asked us to wait."""

    kind: SlackFailureKind
    code: str
    retry_after: float = 0.0


class SlackCallFailed(Exception):
    """A Web API call failed; ``failure`` says how."""

    def __init__(self, failure: SlackFailure) -> None:
        super().__init__(failure.code)
        self.failure = failure


def classify(error: Exception) -> SlackFailure:
    """Classify any exception from a Slack Web API call."""
    if not isinstance(error, SlackApiError):
        return SlackFailure(SlackFailureKind.TRANSIENT, type(error).__name__)
    response = error.response
    code = str(response.get("error", "") or "")
    if response.status_code == 429 or code == "ratelimited":
        try:
            retry_after = float(response.headers.get("Retry-After", DEFAULT_RETRY_AFTER))
        except (TypeError, ValueError):
            retry_after = DEFAULT_RETRY_AFTER
        return SlackFailure(SlackFailureKind.RATE_LIMITED, "ratelimited", retry_after)
    if code in CHANNEL_GONE_ERRORS:
        return SlackFailure(SlackFailureKind.CHANNEL_GONE, code)
    if code in AUTH_ERRORS:
        return SlackFailure(SlackFailureKind.AUTH, code)
    if response.status_code >= 500 or code in ("internal_error", "fatal_error", "service_unavailable"):
        return SlackFailure(SlackFailureKind.TRANSIENT, code or f"HTTP {response.status_code}")
    return SlackFailure(SlackFailureKind.REJECTED, code or f"HTTP {response.status_code}")
