"""The practice's staff inbox: one place for everything a person at the practice must act on.

An item is a caller's message (takeMessage), a write the assistant sent that did not end well (failed, never
sent, or unconfirmed past its maximum age), or a request the PMS cannot take through Sikka (recorded for
staff). Who, what and why are encrypted per item; `parlae-mcp messages list|resolve` shows and closes them.
Each item is queued for delivery (server/delivery.py) to every channel the practice has: email (SES) and its
signed notify URL. Items are added inside the caller's transaction where the event that creates them is written,
so an item exists exactly when its cause does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import (
    DeliveryChannel,
    InboxKind,
    MessageEndpoint,
    StaffDelivery,
    StaffEmail,
    StaffMessage,
    new_id,
    utcnow,
)
from server.phi.cipher import Binding, PhiCipher

__all__ = ["InboxKind", "Item", "Sealed", "StaffInbox", "StaffNote", "item_binding", "queue_open_items"]

INBOX_TABLE = "staff_messages"
# Items that only inform (created resolved): delivered by email to practices that asked for them.
NOTICES = frozenset({InboxKind.BOOKING_MADE})


def item_binding(row_id: str, account_id: str, sealed_as: str | None = None) -> Binding:
    """An item's ciphertext binding (items moved from `staff_followups` keep the one they were sealed with)."""
    return Binding(sealed_as or INBOX_TABLE, "data", row_id, account_id)


@dataclass(frozen=True)
class StaffNote:
    """What an item tells staff (PHI: encrypted at rest, never logged). `reason` says why a person is needed."""

    reason: str
    caller_name: str | None = None
    callback_number: str | None = None  # E.164
    patient_id: str | None = None
    request: str | None = None  # what was asked, e.g. "book Tuesday, December 8 at 9:30 AM with Dr Shah"
    upstream_said: str | None = None  # what Sikka or the PMS answered
    reference: str | None = None  # Sikka's writeback id
    details: dict[str, Any] | None = None  # the arguments of a request recorded for staff

    def as_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "callerName": self.caller_name,
            "callbackNumber": self.callback_number,
            "patientId": self.patient_id,
            "request": self.request,
            "sikkaSaid": self.upstream_said,
            "reference": self.reference,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StaffNote:
        return cls(
            reason=data.get("reason", ""),
            caller_name=data.get("callerName"),
            callback_number=data.get("callbackNumber"),
            patient_id=data.get("patientId"),
            request=data.get("request"),
            upstream_said=data.get("sikkaSaid"),
            reference=data.get("reference"),
            details=data.get("details"),
        )


def legacy_note(kind: str, data: dict[str, Any]) -> StaffNote:
    """An item moved from `staff_followups`: its data was the request's arguments."""
    return StaffNote(reason=f"Recorded for staff ({kind.replace('_', ' ')}).", details=data)


@dataclass(frozen=True)
class Delivery:
    channel: str
    status: str
    attempts: int
    last_error: str | None

    def as_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "status": self.status, "attempts": self.attempts, "lastError": self.last_error}


@dataclass(frozen=True)
class Item:
    """A stored item, decrypted."""

    id: str
    account_id: str
    kind: str
    urgency: str
    vapi_call_id: str | None
    created_at: datetime
    resolved_at: datetime | None
    note: StaffNote
    deliveries: list[Delivery] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """What `messages list --json` prints (JSON escapes control and bidi characters itself)."""
        note = self.note.as_json()
        return {
            "id": self.id,
            "kind": self.kind,
            "createdAt": self.created_at.isoformat(),
            "urgency": self.urgency,
            "vapiCallId": self.vapi_call_id,
            **note,
            "deliveries": [delivery.as_json() for delivery in self.deliveries],
            "resolvedAt": self.resolved_at.isoformat() if self.resolved_at else None,
        }


@dataclass(frozen=True)
class Sealed:
    """An item ready to insert: its id and encrypted note (encrypted before any transaction opens)."""

    id: str
    account_id: str
    kind: InboxKind
    urgency: str
    vapi_call_id: str | None
    data: str


class StaffInbox:
    """The `staff_messages` table (the inbox) and its items' delivery rows."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: PhiCipher, *, email_enabled: bool) -> None:
        self.sessions = sessions
        self.cipher = cipher
        self.email_enabled = email_enabled

    async def seal(
        self, account_id: str, kind: InboxKind, note: StaffNote, *, urgency: str = "routine", vapi_call_id: str | None
    ) -> Sealed:
        row_id = new_id()
        data = await self.cipher.encrypt_json(note.as_json(), item_binding(row_id, account_id))
        return Sealed(row_id, account_id, kind, urgency, vapi_call_id, data)

    async def add(self, session: AsyncSession, item: Sealed) -> bool:
        """Insert the item and queue it for each channel the practice has, inside the caller's transaction. A
        notice goes only where someone asked for it: without such a channel nothing is stored (False)."""
        now = utcnow()
        notice = item.kind in NOTICES
        channels = await self._channels(session, item.account_id, notice)
        if notice and not channels:
            return False
        session.add(
            StaffMessage(
                id=item.id,
                account_id=item.account_id,
                kind=item.kind,
                vapi_call_id=item.vapi_call_id,
                urgency=item.urgency,
                data=item.data,
                created_at=now,
                resolved_at=now if notice else None,
            )
        )
        for channel in channels:
            session.add(StaffDelivery(item_id=item.id, account_id=item.account_id, channel=channel, created_at=now))
        return True

    async def post(
        self, account_id: str, kind: InboxKind, note: StaffNote, *, urgency: str = "routine", vapi_call_id: str | None
    ) -> str:
        """Add one item in its own transaction (committed before this returns); its id."""
        sealed = await self.seal(account_id, kind, note, urgency=urgency, vapi_call_id=vapi_call_id)
        async with self.sessions.begin() as session:
            await self.add(session, sealed)
        return sealed.id

    async def _channels(self, session: AsyncSession, account_id: str, notice: bool) -> list[DeliveryChannel]:
        """Every channel the practice has; for a notice, only if it asked for notices (`--booking-notices`)."""
        email = await session.get(StaffEmail, account_id)
        if notice and (email is None or not email.booking_notices):
            return []
        channels = []
        if self.email_enabled and email is not None:
            channels.append(DeliveryChannel.EMAIL)
        if await session.get(MessageEndpoint, account_id) is not None:
            channels.append(DeliveryChannel.WEBHOOK)
        return channels

    async def decrypt(self, row: StaffMessage, deliveries: list[Delivery] | None = None) -> Item:
        data = await self.cipher.decrypt_json(row.data, item_binding(row.id, row.account_id, row.sealed_as))
        note = legacy_note(row.kind, data) if row.sealed_as else StaffNote.from_json(data)
        return Item(
            id=row.id,
            account_id=row.account_id,
            kind=row.kind,
            urgency=row.urgency,
            vapi_call_id=row.vapi_call_id,
            created_at=row.created_at,
            resolved_at=row.resolved_at,
            note=note,
            deliveries=deliveries or [],
        )

    async def get(self, item_id: str) -> Item | None:
        async with self.sessions() as session:
            row = await session.get(StaffMessage, item_id)
        return None if row is None else await self.decrypt(row)

    async def open_items(self, account_id: str) -> list[Item]:
        """Unresolved items, oldest first, with their deliveries."""
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(StaffMessage)
                    .where(StaffMessage.account_id == account_id, StaffMessage.resolved_at.is_(None))
                    .order_by(StaffMessage.created_at)
                )
            ).all()
            deliveries = (
                await session.scalars(select(StaffDelivery).where(StaffDelivery.item_id.in_([r.id for r in rows])))
            ).all()
        by_item: dict[str, list[Delivery]] = {}
        for d in sorted(deliveries, key=lambda d: d.channel):
            by_item.setdefault(d.item_id, []).append(Delivery(d.channel, d.status, d.attempts, d.last_error))
        return [await self.decrypt(row, by_item.get(row.id)) for row in rows]

    async def resolve(self, item_id: str) -> bool:
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(StaffMessage)
                .where(StaffMessage.id == item_id, StaffMessage.resolved_at.is_(None))
                .values(resolved_at=utcnow())
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def queue_open_items(session: AsyncSession, account_id: str, channel: DeliveryChannel) -> int:
    """Queue every open item of the practice that has no delivery on `channel` yet (a channel set later still
    reaches what is waiting)."""
    has_one = select(StaffDelivery.item_id).where(StaffDelivery.channel == channel)
    rows = (
        await session.scalars(
            select(StaffMessage.id).where(
                StaffMessage.account_id == account_id,
                StaffMessage.resolved_at.is_(None),
                StaffMessage.id.not_in(has_one),
            )
        )
    ).all()
    now = utcnow()
    session.add_all(
        StaffDelivery(item_id=item_id, account_id=account_id, channel=channel, created_at=now, next_attempt_at=now)
        for item_id in rows
    )
    return len(rows)
