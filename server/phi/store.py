"""Consents callers give during a call, each encrypted and bound to its row, found by a blind index of the
patient id. (Staff items live in server/inbox.py, writes in server/intents.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import Consent, new_id, utcnow
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
