"""Where to say a confirmed Stop or Start was done: the response_url of the command or click that opened
the confirmation, kept under its idempotency key (``confirmations``) so that it never travels through
Slack's client in the modal. A response_url lives 30 minutes; older rows are pruned on each insert."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete

from bot.store.base import StoreBase
from bot.store.engine import threaded, utc
from bot.store.schema import RESPONSE_URL_MAX_CHARS, ConfirmationRow

# How long Slack honours a response_url.
RESPONSE_URL_LIFE = timedelta(minutes=30)


class ResponseUrls(StoreBase):
    """Writes and the one read of the confirmations' response_urls."""

    @threaded
    def keep_response_url(self, key: str, response_url: str, now: datetime) -> bool:
        """Keep ``response_url`` for the confirmation ``key``, and drop those past their life; False (nothing
        kept) for one too long to be Slack's."""
        if len(response_url) > RESPONSE_URL_MAX_CHARS:
            return False
        with self._sessions.begin() as session:
            session.execute(
                delete(ConfirmationRow).where(ConfirmationRow.created_at < now - RESPONSE_URL_LIFE)
            )
            session.merge(ConfirmationRow(key=key, response_url=response_url, created_at=now))
        return True

    @threaded
    def take_response_url(self, key: str, now: datetime) -> str | None:
        """The response_url kept for ``key``, deleted as it is read: None when there was none (the Home
        tab), it was taken already, or it is past its life."""
        with self._sessions.begin() as session:
            row = session.get(ConfirmationRow, key)
            if row is None:
                return None
            session.delete(row)
            fresh = utc(row.created_at) >= now - RESPONSE_URL_LIFE
            return row.response_url if fresh else None
