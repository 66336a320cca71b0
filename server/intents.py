"""The write-intent ledger: every write to a practice's PMS is recorded before it is sent, and owned until it is
final or in a person's hands.

An intent is written, with an audit record saying the write was requested, before the Sikka request leaves
(`record`); Sikka's receipt is stored the moment it arrives (`submitted`); the final outcome is written with
its own audit record and, when a person must act, a staff inbox item, in one transaction (`finish`,
`not_sent`, `hand_to_staff`). States (server.db.models.IntentState):

    intended ──receipt──► submitted ──writeback_status──► confirmed | failed
        │                     └──(older than the maximum pending age: staff take it over, still followed)
        └──refused at once, or not in Sikka's listing once it cannot be in flight──► not_sent

A booking or a move holds its slot while its intent is open, so two callers are never both told "sent" for one
chair (`slot_guard`). PHI (the body, who asked, what the answers say) is encrypted in `data`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.audit import chain
from server.audit.normalise import normalised
from server.audit.record import AuditEntry
from server.caller import Caller
from server.db.models import (
    OPEN_INTENTS,
    InboxKind,
    IntentState,
    PmsIntegration,
    WriteIntent,
    new_id,
    utcnow,
)
from server.db.queue import claim_due
from server.inbox import Sealed, StaffInbox, StaffNote
from server.phi.cipher import Binding, PhiCipher

__all__ = ["Asked", "HeldSlot", "Hold", "Intent", "IntentState", "Progress", "SlotGuard", "Write", "WriteIntents"]

CRUD = {"POST": "C", "PUT": "U", "PATCH": "U", "DELETE": "D"}
# What staff are told an item is about, by the intent's final state (or hand-over).
STAFF_REASONS = {
    InboxKind.WRITE_FAILED: "The office system refused this change after the assistant sent it; the caller may "
    "expect it to be done. Please make the change by hand or call them back.",
    InboxKind.WRITE_NOT_SENT: "The assistant tried to make this change but it never reached the office system. "
    "Please make the change by hand or call the caller back.",
    InboxKind.WRITE_UNCONFIRMED: "The office system has not applied this change yet (is the office computer "
    "off?). It is still queued; please check it in the practice system and call the caller back if needed.",
}


@dataclass(frozen=True)
class HeldSlot:
    """The time a booking or move takes: held while its intent is open."""

    start: datetime  # aware
    minutes: int
    provider_id: str
    operatory: str


@dataclass(frozen=True)
class Asked:
    """What a caller asked to be written, as staff and the caller's answers need it."""

    tool: str
    request: str  # in words, for staff: "book Tuesday, December 8 at 9:30 AM with Dr Shah"
    who: str  # the patient's name
    callback_number: str | None
    facts: dict[str, str] = field(default_factory=dict)  # what the tool's answers are built from
    patient_id: str | None = None
    slot: HeldSlot | None = None
    lookup: str | None = None  # blind index a tool finds an open intent by (a registration's name + DOB)


@dataclass(frozen=True)
class Write:
    """The Sikka request itself."""

    kind: str  # book_appointment | reschedule_appointment | appointment_status | create_patient | update_patient
    method: str
    endpoint: str
    body: dict[str, Any]
    target_id: str | None = None


@dataclass(frozen=True)
class Intent:
    """An intent, decrypted."""

    id: str
    account_id: str
    tool: str
    kind: str
    method: str
    endpoint: str
    state: IntentState
    writeback_id: str | None
    created_id: str | None
    office_offline: bool
    recorded_at: datetime
    submitted_at: datetime | None
    handed_to_staff_at: datetime | None
    vapi_call_id: str | None
    patient_ref: str | None
    target_id: str | None
    body: dict[str, Any]
    asked: Asked
    reason: str  # what Sikka said once final ("" before)

    @property
    def open(self) -> bool:
        return self.state in OPEN_INTENTS


@dataclass(frozen=True)
class Progress:
    """How far a write got: what a caller's answer is built from, in the call or on a retry."""

    state: IntentState
    writeback_id: str | None = None
    created_id: str | None = None
    office_offline: bool = False
    reason: str = ""

    @classmethod
    def of(cls, intent: Intent) -> Progress:
        return cls(intent.state, intent.writeback_id, intent.created_id, intent.office_offline, intent.reason)


@dataclass(frozen=True)
class Hold:
    """A slot an open booking or move of ours takes, from the plain columns (nothing decrypted)."""

    intent_id: str
    start: datetime
    minutes: int
    provider_id: str
    operatory: str
    patient_ref: str | None
    target_id: str | None  # the appointment being moved


def data_binding(row_id: str, account_id: str) -> Binding:
    return Binding("write_intents", "data", row_id, account_id)


def result_binding(row_id: str, account_id: str) -> Binding:
    return Binding("write_intents", "result", row_id, account_id)


def audit_event(
    caller: Caller, account_id: str, action: str, crud: str, summary: str, patient_ref: str | None, *, outcome: str
) -> dict[str, Any]:
    """An audit record for a step of a write that no tool call is answering (written in the step's transaction)."""
    entry = AuditEntry(action=action, crud=crud, caller=caller, phi_fields=(), account_id=account_id, summary=summary)
    if patient_ref:
        entry.targeted(patient_ref)
    status = {"success": 200, "pending": 202, "failed": 409}.get(outcome, 200)
    audit_outcome = "success" if outcome in ("success", "pending") else "failed"
    record = entry.record(audit_outcome, status, None if audit_outcome == "success" else outcome, [])
    record["response_time_ms"] = 0
    return normalised(record)


class SlotGuard:
    """One transaction in which a tool reads the open holds of a day and records its intent: serialised per
    practice (the integration row lock on PostgreSQL; SQLite has one connection), so two callers never both
    take one chair."""

    def __init__(self, ledger: WriteIntents, session: AsyncSession, account_id: str) -> None:
        self.ledger = ledger
        self.session = session
        self.account_id = account_id

    async def holds(self, start: datetime, end: datetime) -> list[Hold]:
        return await self.ledger.holds_in(self.session, self.account_id, start, end)

    async def record(self, write: Write, asked: Asked, caller: Caller, idempotency_key: str | None) -> Intent:
        return await self.ledger.insert(self.session, self.account_id, write, asked, caller, idempotency_key)


class WriteIntents:
    """The `write_intents` table."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: PhiCipher,
        inbox: StaffInbox,
        heads: chain.KnownHeads,
        *,
        row_lock: bool,
    ) -> None:
        self.sessions = sessions
        self.cipher = cipher
        self.inbox = inbox
        self.heads = heads  # shared with the audit writer: each append usually moves the head in one update
        self.row_lock = row_lock

    # Recording (before the Sikka request)

    async def record(self, account_id: str, write: Write, asked: Asked, caller: Caller, key: str | None) -> Intent:
        """Record the intent and the audit record that it was requested, in one transaction."""
        async with self.sessions.begin() as session:
            return await self.insert(session, account_id, write, asked, caller, key)

    @asynccontextmanager
    async def slot_guard(self, account_id: str) -> AsyncIterator[SlotGuard]:
        async with self.sessions.begin() as session:
            if self.row_lock:
                await session.execute(
                    select(PmsIntegration.id).where(PmsIntegration.account_id == account_id).with_for_update()
                )
            yield SlotGuard(self, session, account_id)

    async def insert(
        self, session: AsyncSession, account_id: str, write: Write, asked: Asked, caller: Caller, key: str | None
    ) -> Intent:
        row_id = new_id()
        payload = {"body": write.body, "asked": _asked_json(asked)}
        data = await self.cipher.encrypt_json(payload, data_binding(row_id, account_id))
        slot = asked.slot
        row = WriteIntent(
            id=row_id,
            account_id=account_id,
            tool=asked.tool,
            kind=write.kind,
            method=write.method,
            endpoint=write.endpoint,
            target_id=write.target_id,
            patient_ref=asked.patient_id,
            vapi_call_id=caller.call_id,
            idempotency_key=key,
            lookup=asked.lookup,
            slot_start=slot.start if slot else None,
            slot_minutes=slot.minutes if slot else None,
            provider_id=slot.provider_id if slot else None,
            operatory=slot.operatory if slot else None,
            data=data,
            state=IntentState.INTENDED,
            recorded_at=utcnow(),
            next_check_at=utcnow(),
        )
        session.add(row)
        summary = f"{asked.tool}: write requested ({write.method} {write.kind})"
        event = audit_event(
            caller, account_id, "write.requested", CRUD.get(write.method, "U"), summary, asked.patient_id,
            outcome="pending",
        )  # fmt: skip
        await session.flush()
        await self.heads.append_in(session, [event])
        return _intent(row, write.body, asked, "")

    # Receipt

    async def submitted(
        self, intent_id: str, writeback_id: str, *, office_offline: bool, first_check: datetime
    ) -> None:
        """Store Sikka's receipt (from `intended`, or over a `not_sent` verdict: a write that exists is tracked)."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(WriteIntent)
                .where(WriteIntent.id == intent_id, WriteIntent.writeback_id.is_(None))
                .values(
                    state=IntentState.SUBMITTED,
                    writeback_id=writeback_id,
                    office_offline=office_offline,
                    submitted_at=utcnow(),
                    completed_at=None,
                    next_check_at=first_check,
                )
            )

    # Final outcomes

    async def finish(
        self, intent: Intent, state: IntentState, *, created_id: str | None = None, reason: str = "", actor: Caller
    ) -> bool:
        """Record a final state from Sikka (`confirmed` or `failed`); a failure becomes a staff item. False when
        another process finished it first."""
        item = None
        if state == IntentState.FAILED:
            item = await self._staff_item(intent, InboxKind.WRITE_FAILED, reason)
        elif state == IntentState.CONFIRMED and intent.kind == "book_appointment":
            item = await self._staff_item(intent, InboxKind.BOOKING_MADE, reason)
        sealed_reason = await self._seal_reason(intent, reason)
        outcome = "success" if state == IntentState.CONFIRMED else "failed"
        async with self.sessions.begin() as session:
            done = await self._close(session, intent, state, created_id=created_id, result=sealed_reason)
            if not done:
                return False
            if item is not None:
                await self.inbox.add(session, item)
            await self._audit(session, intent, actor, f"write {state.value}", outcome)
        return True

    async def not_sent(self, intent: Intent, reason: str, *, actor: Caller, tell_staff: bool) -> bool:
        """Sikka never took the write. `tell_staff` when nobody told the caller (found after a crash)."""
        item = await self._staff_item(intent, InboxKind.WRITE_NOT_SENT, reason) if tell_staff else None
        async with self.sessions.begin() as session:
            rows = await session.execute(
                update(WriteIntent)
                .where(WriteIntent.id == intent.id, WriteIntent.state == IntentState.INTENDED)
                .values(state=IntentState.NOT_SENT, completed_at=utcnow())
            )
            if not rows.rowcount:  # type: ignore[attr-defined]
                return False
            if item is not None:
                await self.inbox.add(session, item)
            await self._audit(session, intent, actor, "write not sent", "failed")
        return True

    async def hand_to_staff(self, intent: Intent, *, actor: Caller, next_check: datetime) -> bool:
        """Past its maximum pending age: a staff item takes it over; it stays queued at Sikka and followed."""
        item = await self._staff_item(intent, InboxKind.WRITE_UNCONFIRMED, "")
        async with self.sessions.begin() as session:
            rows = await session.execute(
                update(WriteIntent)
                .where(WriteIntent.id == intent.id, WriteIntent.handed_to_staff_at.is_(None))
                .values(handed_to_staff_at=utcnow(), next_check_at=next_check)
            )
            if not rows.rowcount:  # type: ignore[attr-defined]
                return False
            await self.inbox.add(session, item)
            await self._audit(session, intent, actor, "write handed to staff (unconfirmed)", "pending")
        return True

    async def _close(
        self, session: AsyncSession, intent: Intent, state: IntentState, *, created_id: str | None, result: str | None
    ) -> bool:
        rows = await session.execute(
            update(WriteIntent)
            .where(WriteIntent.id == intent.id, WriteIntent.state.in_(OPEN_INTENTS))
            .values(state=state, created_id=created_id, result=result, completed_at=utcnow())
        )
        return bool(rows.rowcount)  # type: ignore[attr-defined]

    async def _seal_reason(self, intent: Intent, reason: str) -> str | None:
        if not reason:
            return None
        return await self.cipher.encrypt(reason.encode(), result_binding(intent.id, intent.account_id))

    async def _staff_item(self, intent: Intent, kind: InboxKind, said: str) -> Sealed:
        asked = intent.asked
        note = StaffNote(
            reason=STAFF_REASONS.get(kind, "The assistant booked this appointment."),
            caller_name=asked.who or None,
            callback_number=asked.callback_number,
            patient_id=intent.patient_ref,
            request=asked.request or None,
            upstream_said=said or None,
            reference=intent.writeback_id,
        )
        urgency = "routine" if kind == InboxKind.BOOKING_MADE else "soon"
        return await self.inbox.seal(intent.account_id, kind, note, urgency=urgency, vapi_call_id=intent.vapi_call_id)

    async def _audit(self, session: AsyncSession, intent: Intent, actor: Caller, what: str, outcome: str) -> None:
        caller = Caller(intent.account_id, actor.actor, call_id=intent.vapi_call_id)
        summary = f"{intent.tool or intent.kind}: {what}"
        crud = CRUD.get(intent.method, "U")
        event = audit_event(
            caller, intent.account_id, "write.outcome", crud, summary, intent.patient_ref, outcome=outcome
        )
        await self.heads.append_in(session, [event])

    # Reading

    async def get(self, intent_id: str) -> Intent | None:
        async with self.sessions() as session:
            row = await session.get(WriteIntent, intent_id)
        return None if row is None else await self.decrypt(row)

    async def latest_for_key(self, account_id: str, key: str) -> Intent | None:
        """The newest intent a tool call (its idempotency key) recorded."""
        query = (
            select(WriteIntent)
            .where(WriteIntent.account_id == account_id, WriteIntent.idempotency_key == key)
            .order_by(WriteIntent.recorded_at.desc())
            .limit(1)
        )
        return await self._one(query)

    async def open_by_lookup(self, account_id: str, lookup: str) -> Intent | None:
        """An open intent found by its lookup (e.g. a registration still being saved)."""
        query = (
            select(WriteIntent)
            .where(
                WriteIntent.account_id == account_id,
                WriteIntent.lookup == lookup,
                WriteIntent.state.in_(OPEN_INTENTS),
            )
            .order_by(WriteIntent.recorded_at.desc())
            .limit(1)
        )
        return await self._one(query)

    async def _one(self, query: Select[Any]) -> Intent | None:
        async with self.sessions() as session:
            row: WriteIntent | None = await session.scalar(query)
        return None if row is None else await self.decrypt(row)

    async def holds_in(self, session: AsyncSession, account_id: str, start: datetime, end: datetime) -> list[Hold]:
        rows = await session.scalars(
            select(WriteIntent).where(
                WriteIntent.account_id == account_id,
                WriteIntent.state.in_(OPEN_INTENTS),
                WriteIntent.slot_start >= start,
                WriteIntent.slot_start < end,
            )
        )
        return [
            Hold(
                r.id,
                r.slot_start,
                r.slot_minutes or 0,
                r.provider_id or "",
                r.operatory or "",
                r.patient_ref,
                r.target_id,
            )
            for r in rows
            if r.slot_start is not None
        ]

    async def decrypt(self, row: WriteIntent) -> Intent:
        payload: dict[str, Any] = {}
        if row.data:
            payload = await self.cipher.decrypt_json(row.data, data_binding(row.id, row.account_id))
        reason = ""
        if row.result:
            reason = (await self.cipher.decrypt(row.result, result_binding(row.id, row.account_id))).decode()
        asked = _asked_from(row.tool, payload.get("asked") or {})
        return _intent(row, payload.get("body") or {}, asked, reason)

    # The follower's queues

    async def claim_submitted(self, now: datetime, lease: timedelta, limit: int = 50) -> list[Intent]:
        """Submitted intents due for a look at Sikka (SKIP LOCKED on PostgreSQL: replicas share the work)."""
        return await self._claim(WriteIntent.state == IntentState.SUBMITTED, now, lease, limit)

    async def claim_lost(self, now: datetime, in_flight: timedelta, lease: timedelta, limit: int = 20) -> list[Intent]:
        """Intents still without a receipt although their request can no longer be in flight: the process that
        sent them died or lost its database before storing the receipt."""
        lost = (WriteIntent.state == IntentState.INTENDED) & (WriteIntent.recorded_at <= now - in_flight)
        return await self._claim(lost, now, lease, limit)

    async def _claim(self, waiting: Any, now: datetime, lease: timedelta, limit: int) -> list[Intent]:
        rows = await claim_due(
            self.sessions,
            WriteIntent,
            waiting=waiting,
            due_at=WriteIntent.next_check_at,
            now=now,
            lease=lease,
            limit=limit,
        )
        return [await self.decrypt(row) for row in rows]

    async def reschedule(self, intent_id: str, at: datetime) -> None:
        async with self.sessions.begin() as session:
            await session.execute(update(WriteIntent).where(WriteIntent.id == intent_id).values(next_check_at=at))

    async def open_counts(self) -> tuple[int, datetime | None]:
        """How many intents are open, and when the oldest one no person has taken over yet was recorded (what the
        alarm on writes left without an owner reads)."""
        unowned = WriteIntent.state.in_(OPEN_INTENTS) & WriteIntent.handed_to_staff_at.is_(None)
        async with self.sessions() as session:
            count = await session.scalar(select(func.count()).where(WriteIntent.state.in_(OPEN_INTENTS)))
            oldest = await session.scalar(select(func.min(WriteIntent.recorded_at)).where(unowned))
        return int(count or 0), oldest


def _asked_json(asked: Asked) -> dict[str, Any]:
    slot = asked.slot
    return {
        "request": asked.request,
        "who": asked.who,
        "callbackNumber": asked.callback_number,
        "facts": asked.facts,
        "slot": None
        if slot is None
        else {
            "start": slot.start.isoformat(),
            "minutes": slot.minutes,
            "provider": slot.provider_id,
            "operatory": slot.operatory,
        },
    }


def _asked_from(tool: str, data: dict[str, Any]) -> Asked:
    slot_data = data.get("slot")
    slot = None
    if slot_data:
        slot = HeldSlot(
            datetime.fromisoformat(slot_data["start"]),
            slot_data["minutes"],
            slot_data["provider"],
            slot_data["operatory"],
        )
    return Asked(
        tool=tool,
        request=data.get("request", ""),
        who=data.get("who", ""),
        callback_number=data.get("callbackNumber"),
        facts=data.get("facts") or {},
        slot=slot,
    )


def _intent(row: WriteIntent, body: dict[str, Any], asked: Asked, reason: str) -> Intent:
    return Intent(
        id=row.id,
        account_id=row.account_id,
        tool=row.tool,
        kind=row.kind,
        method=row.method,
        endpoint=row.endpoint,
        state=IntentState(row.state),
        writeback_id=row.writeback_id,
        created_id=row.created_id,
        office_offline=bool(row.office_offline),
        recorded_at=row.recorded_at,
        submitted_at=row.submitted_at,
        handed_to_staff_at=row.handed_to_staff_at,
        vapi_call_id=row.vapi_call_id,
        patient_ref=row.patient_ref,
        target_id=row.target_id,
        body=body,
        asked=_with_ids(asked, row),
        reason=reason,
    )


def _with_ids(asked: Asked, row: WriteIntent) -> Asked:
    return Asked(
        tool=asked.tool,
        request=asked.request,
        who=asked.who,
        callback_number=asked.callback_number,
        facts=asked.facts,
        patient_id=row.patient_ref,
        slot=asked.slot,
        lookup=row.lookup,
    )
