"""Operators' actions and their refusals (``audit_events``). A confirmed click is claimed by inserting its
row with the confirmation's unique idempotency key before Gcore is asked: a second delivery of the same
click (a double submit, Slack's retry, another replica) finds the key taken and does nothing. The claim
also decides the 2-minute guard, in the same transaction (``claim_action``)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from bot.audit import MAY_HAVE_ACTED, AuditEntry, AuditResult, Operation
from bot.store.base import StoreBase
from bot.store.engine import threaded, utc
from bot.store.schema import REASON_MAX_CHARS, AuditRow

# What ``audit_trail`` shows at most.
AUDIT_SHOWN = 20
# The advisory lock that orders claims on one deployment across replicas (PostgreSQL; SQLite's writes are
# one at a time already): (this class, the deployment's hash).
_CLAIM_LOCK_CLASS = 0x1F0C0DE7
_CLAIM_LOCK = text("SELECT pg_advisory_xact_lock(:class, hashtext(:deployment))")


@dataclass(frozen=True)
class Claim:
    """How claiming a confirmation's key ended: ``taken`` (it was claimed before: nothing written);
    ``earlier``, the deployment's latest action before this one when it was the same action (the claim is
    then recorded as refused, ``recently_done``); else neither, and the caller asks Gcore."""

    taken: bool = False
    earlier: AuditEntry | None = None


def _row(entry: AuditEntry) -> AuditRow:
    return AuditRow(
        at=entry.at,
        user_id=entry.user_id,
        team_id=entry.team_id,
        channel_id=entry.channel_id,
        action=entry.action.value,
        project_id=entry.project_id,
        name=entry.name,
        result=entry.result.value,
        detail=entry.detail[:REASON_MAX_CHARS] if entry.detail else None,
        idempotency_key=entry.key,
    )


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        at=utc(row.at),
        user_id=row.user_id,
        action=Operation(row.action),
        project_id=row.project_id,
        name=row.name,
        result=AuditResult(row.result),
        detail=row.detail,
        key=row.idempotency_key,
        channel_id=row.channel_id,
        team_id=row.team_id,
    )


class Audits(StoreBase):
    """Writes and reads of the audit rows."""

    @threaded
    def record_audit(self, entry: AuditEntry) -> bool:
        """Insert ``entry``: True when it is new, False when its idempotency key was already taken (by this
        process or another), in which case nothing is written. A refused confirmation (it has a key) is
        recorded once however often it is submitted; a refused command or click, before any confirmation,
        has no key, so each delivery of it is a row (a retry by Slack too)."""
        try:
            with self._sessions.begin() as session:
                session.add(_row(entry))
        except IntegrityError:
            return False
        return True

    @threaded
    def claim_action(self, entry: AuditEntry, since: datetime) -> Claim:
        """Claim the pending ``entry`` by its key, then let the deployment's latest action since ``since``
        that Gcore took or may have taken (of either kind, claimed before this one) decide: the same action
        refuses this one (recorded so, ``recently_done``); the other, or none, lets it go ahead. One
        transaction, one claim per deployment at a time: of two claims at once, exactly one goes ahead."""
        try:
            with self._sessions.begin() as session:
                if session.get_bind().dialect.name == "postgresql":
                    deployment = f"{entry.project_id}/{entry.name}"
                    session.execute(_CLAIM_LOCK, {"class": _CLAIM_LOCK_CLASS, "deployment": deployment})
                row = _row(entry)
                session.add(row)
                session.flush()
                latest = session.scalars(
                    select(AuditRow)
                    .where(
                        AuditRow.project_id == entry.project_id,
                        AuditRow.name == entry.name,
                        AuditRow.result.in_([r.value for r in MAY_HAVE_ACTED]),
                        AuditRow.at >= since,
                        AuditRow.id < row.id,
                    )
                    .order_by(AuditRow.id.desc())
                    .limit(1)
                ).first()
                if latest is None or latest.action != entry.action.value:
                    return Claim()
                row.result, row.detail = AuditResult.REFUSED.value, "recently_done"
                return Claim(earlier=_entry(latest))
        except IntegrityError:
            return Claim(taken=True)

    @threaded
    def finish_audit(self, key: str, result: AuditResult, detail: str | None = None) -> None:
        """Mark the claimed action ``key`` done, failed or unknown (``detail``: why, as a code)."""
        with self._sessions.begin() as session:
            row = session.scalars(select(AuditRow).where(AuditRow.idempotency_key == key)).one()
            row.result = result.value
            row.detail = detail[:REASON_MAX_CHARS] if detail else None

    @threaded
    def last_done(
        self,
        project_id: int,
        name: str,
        since: datetime,
        until: datetime | None = None,
        action: Operation | None = None,
    ) -> AuditEntry | None:
        """The newest action (of ``action``, if given) on the deployment that Gcore took, or may have taken
        (its answer was lost), between ``since`` and ``until``."""
        results = [AuditResult.DONE.value, AuditResult.UNKNOWN.value]
        query = select(AuditRow).where(
            AuditRow.project_id == project_id,
            AuditRow.name == name,
            AuditRow.result.in_(results),
            AuditRow.at >= since,
        )
        if until is not None:
            query = query.where(AuditRow.at <= until)
        if action is not None:
            query = query.where(AuditRow.action == action.value)
        with self._sessions() as session:
            row = session.scalars(query.order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(1)).first()
            return _entry(row) if row is not None else None

    @threaded
    def audit_trail(
        self, projects: Collection[int] | None, name: str | None = None, limit: int = AUDIT_SHOWN
    ) -> list[AuditEntry]:
        """The newest ``limit`` rows, newest first, of the ``projects`` (None: every project), of one
        deployment when ``name`` is given."""
        query = select(AuditRow)
        if projects is not None:
            query = query.where(AuditRow.project_id.in_(list(projects)))
        if name is not None:
            query = query.where(AuditRow.name == name)
        with self._sessions() as session:
            rows = session.scalars(query.order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit))
            return [_entry(row) for row in rows]
