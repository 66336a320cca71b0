"""`parlae-mcp retention purge`: delete stored PHI past its configured age. Audit records are kept at least six
years (45 CFR 164.316(b)(2)); the purge itself is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, delete, func, select

from server.audit import chain
from server.db.models import (
    OPEN_INTENTS,
    AuditChainHead,
    AuditLog,
    CallPrefetch,
    Consent,
    IdempotencyKey,
    IdentityAttempt,
    PendingPatient,
    StaffDelivery,
    StaffMessage,
    WriteIntent,
    utcnow,
)
from server.services import Services
from server.settings import MIN_AUDIT_RETENTION_DAYS, Settings

IDENTITY_ATTEMPTS_DAYS = 2


@dataclass(frozen=True)
class Rule:
    table: Table
    older_than: ColumnElement[bool]


def rules(services: Services, now: datetime) -> dict[str, Rule]:
    settings = services.settings

    def cutoff(days: int) -> datetime:
        return now - timedelta(days=days)

    return {
        "pending_patients": Rule(
            PendingPatient.__table__,  # type: ignore[arg-type]
            PendingPatient.created_at < cutoff(settings.retention_pending_patients_days),
        ),
        "idempotency_keys": Rule(
            IdempotencyKey.__table__,  # type: ignore[arg-type]
            IdempotencyKey.created_at < cutoff(settings.retention_idempotency_days),
        ),
        "staff_messages": Rule(
            StaffMessage.__table__,  # type: ignore[arg-type]
            StaffMessage.created_at < cutoff(settings.retention_messages_days),
        ),
        "staff_deliveries": Rule(
            StaffDelivery.__table__,  # type: ignore[arg-type]
            StaffDelivery.created_at < cutoff(settings.retention_messages_days),
        ),
        "consents": Rule(
            Consent.__table__,  # type: ignore[arg-type]
            Consent.recorded_at < cutoff(settings.retention_consents_days),
        ),
        # Identity-check counters are identifiers only and useless once their window has passed (the longest,
        # per patient, is a day): kept two days.
        "identity_attempts": Rule(
            IdentityAttempt.__table__,  # type: ignore[arg-type]
            IdentityAttempt.window_start < cutoff(IDENTITY_ATTEMPTS_DAYS),
        ),
        # A call's prefetch: served until it expires, and counted against the practice's budget until then.
        "call_prefetches": Rule(
            CallPrefetch.__table__,  # type: ignore[arg-type]
            CallPrefetch.expires_at < now,
        ),
        # Open writes are never purged: something must own them until they are final.
        "write_intents": Rule(
            WriteIntent.__table__,  # type: ignore[arg-type]
            WriteIntent.state.not_in(OPEN_INTENTS)
            & (WriteIntent.recorded_at < cutoff(settings.retention_idempotency_days)),
        ),
    }


def audit_cutoff(settings: Settings, now: datetime) -> datetime:
    """Audit records recorded before this may be purged (never less than six years ago)."""
    return now - timedelta(days=max(settings.retention_audit_days, MIN_AUDIT_RETENTION_DAYS))


async def purge(services: Services, *, dry_run: bool, now: datetime | None = None) -> dict[str, int]:
    """Counts per table (what would be deleted, with dry_run)."""
    now = now or utcnow()
    cutoff = audit_cutoff(services.settings, now)
    counts: dict[str, int] = {}
    async with services.sessions.begin() as session:
        for name, rule in rules(services, now).items():
            if dry_run:
                counts[name] = int(
                    await session.scalar(select(func.count()).select_from(rule.table).where(rule.older_than)) or 0
                )
            else:
                result = await session.execute(delete(rule.table).where(rule.older_than))
                counts[name] = int(result.rowcount)  # type: ignore[attr-defined]
        if dry_run:
            counts["pms_audit_logs"] = int(
                await session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.recorded_at < cutoff))
                or 0
            )
        else:
            accounts = (await session.scalars(select(AuditChainHead.account_id))).all()
            counts["pms_audit_logs"] = sum([await chain.purge_before(session, a, cutoff) for a in accounts])
    return counts
