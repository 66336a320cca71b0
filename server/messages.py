"""Messages callers leave for the practice's staff (takeMessage): stored encrypted before the tool answers, listed
and resolved by staff (`parlae-mcp messages list|resolve`), and — where the practice has a notify URL — queued
for delivery (server/notify.py) until delivered or given up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import DeliveryStatus, MessageEndpoint, StaffMessage, new_id, utcnow
from server.db.queue import claim_due
from server.phi.cipher import Binding, PhiCipher


def message_binding(row_id: str, account_id: str) -> Binding:
    return Binding("staff_messages", "data", row_id, account_id)


@dataclass(frozen=True)
class MessageDetails:
    """What the caller left (PHI: encrypted at rest, never logged)."""

    caller_name: str
    callback_number: str  # E.164
    reason: str
    patient_id: str | None = None  # only for a patient verified on the call

    def as_json(self) -> dict[str, Any]:
        return {
            "callerName": self.caller_name,
            "callbackNumber": self.callback_number,
            "reason": self.reason,
            "patientId": self.patient_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MessageDetails:
        return cls(data["callerName"], data["callbackNumber"], data["reason"], data.get("patientId"))


@dataclass(frozen=True)
class Message:
    """A stored message, decrypted."""

    id: str
    account_id: str
    vapi_call_id: str | None
    urgency: str
    created_at: datetime
    resolved_at: datetime | None
    delivery: str
    attempts: int
    last_error: str | None
    details: MessageDetails

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "createdAt": self.created_at.isoformat(),
            "urgency": self.urgency,
            "vapiCallId": self.vapi_call_id,
            **self.details.as_json(),
            "delivery": self.delivery,
            "deliveryAttempts": self.attempts,
            "lastDeliveryError": self.last_error,
            "resolvedAt": self.resolved_at.isoformat() if self.resolved_at else None,
        }


class StaffMessages:
    """The `staff_messages` table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: PhiCipher) -> None:
        self.sessions = sessions
        self.cipher = cipher

    async def add(self, account_id: str, details: MessageDetails, urgency: str, vapi_call_id: str | None) -> str:
        """Store a message (committed before this returns); queued for delivery when the practice has a URL."""
        row_id = new_id()
        data = await self.cipher.encrypt_json(details.as_json(), message_binding(row_id, account_id))
        now = utcnow()
        async with self.sessions.begin() as session:
            notify = await session.get(MessageEndpoint, account_id) is not None
            session.add(
                StaffMessage(
                    id=row_id,
                    account_id=account_id,
                    vapi_call_id=vapi_call_id,
                    urgency=urgency,
                    data=data,
                    created_at=now,
                    delivery=DeliveryStatus.PENDING if notify else DeliveryStatus.OFF,
                    next_attempt_at=now if notify else None,
                )
            )
        return row_id

    async def decrypt(self, row: StaffMessage) -> Message:
        data = await self.cipher.decrypt_json(row.data, message_binding(row.id, row.account_id))
        return Message(
            id=row.id,
            account_id=row.account_id,
            vapi_call_id=row.vapi_call_id,
            urgency=row.urgency,
            created_at=row.created_at,
            resolved_at=row.resolved_at,
            delivery=row.delivery,
            attempts=row.attempts,
            last_error=row.last_error,
            details=MessageDetails.from_json(data),
        )

    async def open_messages(self, account_id: str) -> list[Message]:
        """Unresolved messages, oldest first."""
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(StaffMessage)
                    .where(StaffMessage.account_id == account_id, StaffMessage.resolved_at.is_(None))
                    .order_by(StaffMessage.created_at)
                )
            ).all()
        return [await self.decrypt(row) for row in rows]

    async def resolve(self, message_id: str) -> bool:
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(StaffMessage)
                .where(StaffMessage.id == message_id, StaffMessage.resolved_at.is_(None))
                .values(resolved_at=utcnow())
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim_due(self, now: datetime, lease: timedelta, limit: int = 20) -> list[StaffMessage]:
        """Messages due for a delivery attempt, the attempt counted; the lease keeps other replicas off them."""
        waiting = StaffMessage.delivery == DeliveryStatus.PENDING
        return await claim_due(
            self.sessions,
            StaffMessage,
            waiting=waiting,
            due_at=StaffMessage.next_attempt_at,
            now=now,
            lease=lease,
            limit=limit,
        )

    async def settle(
        self, message_id: str, delivery: DeliveryStatus, *, error: str | None = None, retry_at: datetime | None = None
    ) -> None:
        """Record an attempt's outcome: delivered, pending again at `retry_at`, failed for good, or off."""
        values: dict[str, Any] = {"delivery": delivery, "last_error": error, "next_attempt_at": retry_at}
        if delivery == DeliveryStatus.DELIVERED:
            values["delivered_at"] = utcnow()
        async with self.sessions.begin() as session:
            await session.execute(update(StaffMessage).where(StaffMessage.id == message_id).values(**values))
