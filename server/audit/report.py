"""The breach report: per patient, which PHI fields were accessed, when, by which token and call; plus the
consents recorded in the period. The input to a breach notification (see docs/breach-response.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from server.db.models import AuditLog
from server.services import Services

CSV_COLUMNS = ("patientRef", "recordedAt", "action", "phiFields", "tokenId", "vapiCallId", "ipAddress", "outcome")


@dataclass(frozen=True)
class Access:
    recordedAt: str
    action: str
    phiFields: list[str]
    tokenId: str
    vapiCallId: str | None
    ipAddress: str | None
    outcome: str


@dataclass
class BreachReport:
    account_id: str
    since: datetime
    until: datetime
    patients: dict[str, list[Access]] = field(default_factory=dict)
    consents: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "accountId": self.account_id,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "patients": [
                {"patientRef": ref, "accesses": [asdict(a) for a in accesses]}
                for ref, accesses in self.patients.items()
            ],
            "consents": self.consents,
        }

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for ref, accesses in self.patients.items():
            for a in accesses:
                writer.writerow(
                    [
                        ref,
                        a.recordedAt,
                        a.action,
                        ";".join(a.phiFields),
                        a.tokenId,
                        a.vapiCallId or "",
                        a.ipAddress or "",
                        a.outcome,
                    ]
                )
        return out.getvalue()


def _patient_refs(row: AuditLog) -> Iterable[str]:
    return (ref for ref in (row.patient_ref or "").split(",") if ref)


async def breach_report(services: Services, account_id: str, since: datetime, until: datetime) -> BreachReport:
    report = BreachReport(account_id, since, until)
    query = (
        select(AuditLog)
        .where(
            AuditLog.account_id == account_id,
            AuditLog.phi_accessed.is_(True),
            AuditLog.recorded_at >= since,
            AuditLog.recorded_at < until,
        )
        .order_by(AuditLog.seq)
    )
    async with services.sessions() as session:
        rows = (await session.scalars(query)).all()
    for row in rows:
        access = Access(
            recordedAt=row.recorded_at.isoformat(),
            action=row.action,
            phiFields=list(row.phi_fields),
            tokenId=row.actor,
            vapiCallId=row.vapi_call_id,
            ipAddress=row.ip_address,
            outcome=row.outcome,
        )
        for ref in _patient_refs(row):
            report.patients.setdefault(ref, []).append(access)
    for consent in await services.phi_store.consents(account_id, since, until):
        report.consents.append(
            {
                "patientRef": consent.patient_id,
                "channel": consent.channel,
                "granted": consent.granted,
                "vapiCallId": consent.vapi_call_id,
                "recordedAt": consent.recorded_at.isoformat(),
            }
        )
    return report
