"""PHI this service keeps itself: consents, staff follow-ups and pending new patients, each encrypted and
bound to its row, with blind indexes for the lookups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import Consent, PendingPatient, StaffFollowup, new_id, utcnow
from server.phi.blind_index import BlindIndex
from server.phi.cipher import Binding, PhiCipher


@dataclass(frozen=True)
class ConsentRecord:
    patient_id: str
    channel: str  # sms | email | phone
    granted: bool
    vapi_call_id: str | None
    recorded_at: datetime


class PhiStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: PhiCipher, blind_index: BlindIndex) -> None:
        self.sessions = sessions
        self.cipher = cipher
        self.blind_index = blind_index

    async def add_consents(
        self, account_id: str, patient_id: str, choices: dict[str, bool], vapi_call_id: str | None
    ) -> int:
        if not choices:
            return 0
        lookup = await self.blind_index.digest(account_id, "patient", patient_id)
        now = utcnow()
        rows = []
        for channel, granted in sorted(choices.items()):
            row_id = new_id()
            payload = {
                "patientId": patient_id,
                "channel": channel,
                "granted": granted,
                "callId": vapi_call_id,
            }
            data = await self.cipher.encrypt_json(payload, Binding("consents", "data", row_id, account_id))
            rows.append(Consent(id=row_id, account_id=account_id, patient_lookup=lookup, data=data, recorded_at=now))
        async with self.sessions.begin() as session:
            session.add_all(rows)
        return len(rows)

    async def consents(
        self, account_id: str, since: datetime, until: datetime, patient_id: str | None = None
    ) -> list[ConsentRecord]:
        query = select(Consent).where(
            Consent.account_id == account_id, Consent.recorded_at >= since, Consent.recorded_at < until
        )
        if patient_id:
            query = query.where(
                Consent.patient_lookup == await self.blind_index.digest(account_id, "patient", patient_id)
            )
        async with self.sessions() as session:
            rows: Sequence[Consent] = (await session.scalars(query.order_by(Consent.recorded_at))).all()
        records = []
        for row in rows:
            data = await self.cipher.decrypt_json(row.data, Binding("consents", "data", row.id, account_id))
            records.append(
                ConsentRecord(
                    data["patientId"], data["channel"], bool(data["granted"]), data["callId"], row.recorded_at
                )
            )
        return records

    async def add_followup(self, account_id: str, kind: str, details: dict[str, Any], vapi_call_id: str | None) -> str:
        row_id = new_id()
        data = await self.cipher.encrypt_json(details, Binding("staff_followups", "data", row_id, account_id))
        async with self.sessions.begin() as session:
            session.add(
                StaffFollowup(id=row_id, account_id=account_id, kind=kind, vapi_call_id=vapi_call_id, data=data)
            )
        return row_id

    async def open_followups(self, account_id: str) -> list[tuple[StaffFollowup, dict[str, Any]]]:
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(StaffFollowup)
                    .where(StaffFollowup.account_id == account_id, StaffFollowup.resolved_at.is_(None))
                    .order_by(StaffFollowup.created_at)
                )
            ).all()
        return [
            (
                row,
                await self.cipher.decrypt_json(row.data, Binding("staff_followups", "data", row.id, account_id)),
            )
            for row in rows
        ]

    async def resolve_followup(self, followup_id: str) -> bool:
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(StaffFollowup)
                .where(StaffFollowup.id == followup_id, StaffFollowup.resolved_at.is_(None))
                .values(resolved_at=utcnow())
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def pending_patient_lookup(self, account_id: str, first: str, last: str, phone: str) -> str:
        """A registration's blind index: its name and phone, never its birthdate (whether one is pending must not
        depend on a birthdate, or it would confirm one)."""
        return await self.blind_index.digest(account_id, "new-patient", first.lower(), last.lower(), phone)

    async def add_pending_patient(
        self, account_id: str, writeback_id: str, lookup: str, details: dict[str, Any]
    ) -> None:
        row_id = new_id()
        data = await self.cipher.encrypt_json(details, Binding("pending_patients", "data", row_id, account_id))
        async with self.sessions.begin() as session:
            session.add(
                PendingPatient(id=row_id, account_id=account_id, writeback_id=writeback_id, lookup=lookup, data=data)
            )

    async def pending_patient(self, account_id: str, lookup: str) -> PendingPatient | None:
        async with self.sessions() as session:
            return await session.scalar(
                select(PendingPatient)
                .where(PendingPatient.account_id == account_id, PendingPatient.lookup == lookup)
                .order_by(PendingPatient.created_at.desc())
                .limit(1)
            )
