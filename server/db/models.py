"""Tables. Columns that hold PHI store ciphertext envelopes only (see server/phi)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


IP_ADDRESS_LENGTH = 64


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored and returned as aware UTC datetimes on every dialect (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class IntegrationStatus(StrEnum):
    """Only ACTIVE serves: a token of any other status is refused (server/auth.py)."""

    PENDING = "PENDING"  # listed by Sikka, its data not uploaded yet (`data_insert_date` empty)
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"  # missing from two syncs in a row: secret scheduled for deletion; listed again -> ACTIVE
    REVOKED = "REVOKED"  # deauthorised by a signed webhook: tokens revoked, secret scheduled for deletion


class Account(Base):
    """One practice location (Sikka office_id + practice_id)."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PmsIntegration(Base):
    __tablename__ = "pms_integrations"
    __table_args__ = (UniqueConstraint("office_id", "practice_id", name="uq_pms_integrations_office_practice"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), unique=True)
    provider: Mapped[str] = mapped_column(String(20), default="SIKKA")
    office_id: Mapped[str] = mapped_column(String(64))
    practice_id: Mapped[str] = mapped_column(String(64))
    secret_name: Mapped[str | None] = mapped_column(String(512))
    secret_arn: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default=IntegrationStatus.PENDING)
    pms_type: Mapped[str | None] = mapped_column(String(100))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    last_sync_at: Mapped[datetime | None]  # when Sikka last listed it (onboarding or a sync confirmed it)
    missed_syncs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # syncs in a row without it
    api_access: Mapped[str | None] = mapped_column(String(3))  # `practice_location` access: "on", "off", unknown
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PracticeToken(Base):
    """A bearer token for one account; only its SHA-256 is stored."""

    __tablename__ = "practice_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditLog(Base):
    """One record per tool call or webhook delivery, hash-chained per account (see server/audit/chain.py)."""

    __tablename__ = "pms_audit_logs"
    __table_args__ = (
        UniqueConstraint("account_id", "seq", name="uq_pms_audit_logs_account_seq"),
        Index("ix_pms_audit_logs_recorded_at", "recorded_at"),
        Index("ix_pms_audit_logs_account_call", "account_id", "vapi_call_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime]
    integration_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    crud: Mapped[str] = mapped_column(String(1))
    endpoint: Mapped[str | None] = mapped_column(String(500))
    method: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(64))
    vapi_call_id: Mapped[str | None] = mapped_column(String(128))
    ip_address: Mapped[str | None] = mapped_column(String(IP_ADDRESS_LENGTH))
    # The client sent something that is not an IP address (ip_address is then null); hashed only when true.
    ip_invalid: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    request_summary: Mapped[str] = mapped_column(String(500))
    response_status: Mapped[int] = mapped_column(Integer)
    response_time_ms: Mapped[int] = mapped_column(Integer)
    phi_accessed: Mapped[bool] = mapped_column(Boolean)
    phi_fields: Mapped[list[str]]
    patient_ref: Mapped[str | None] = mapped_column(Text)  # Sikka patient id(s), comma-separated
    outcome: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last link of one account's audit chain; its row lock serialises appends."""

    __tablename__ = "audit_chain_heads"

    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    # Where verification starts once retention has purged a chain's oldest records (else 0 and the genesis hash).
    base_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    base_hash: Mapped[str] = mapped_column(String(64), default="0" * 64, server_default="0" * 64)


class WebhookEvent(Base):
    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(String(255), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    office_id: Mapped[str | None] = mapped_column(String(64))
    practice_id: Mapped[str | None] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SyncLease(Base):
    """A lease or a rate-limit marker (server/leases.py): `holder` owns `name` until `expires_at`."""

    __tablename__ = "sync_leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class VaultSecret(Base):
    """The local vault: one AES-256-GCM envelope per practice secret."""

    __tablename__ = "vault_secrets"

    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    delete_after: Mapped[datetime | None]


class IntentState(StrEnum):
    """Where a write the assistant was asked to make stands (server/intents.py)."""

    INTENDED = "intended"  # recorded before the Sikka request; no receipt stored (yet)
    SUBMITTED = "submitted"  # Sikka's receipt (writeback id) stored: followed until final
    CONFIRMED = "confirmed"  # applied in the PMS
    FAILED = "failed"  # the PMS or Sikka refused it after accepting it
    NOT_SENT = (
        "not_sent"  # Sikka never took it: refused at once, or absent from its listing once it could not be in flight
    )
    WITHDRAWN = "withdrawn"  # deleted at Sikka while pending (only earlier versions did this)


OPEN_INTENTS = (IntentState.INTENDED, IntentState.SUBMITTED)


class WriteIntent(Base):
    """A write to the PMS, recorded before it is sent and followed until it is final or in a person's hands.
    PHI (the body, who asked, what the answers say) is in `data`, encrypted; the plain columns are identifiers
    and the slot a pending booking holds."""

    __tablename__ = "write_intents"
    __table_args__ = (
        UniqueConstraint("account_id", "writeback_id", name="uq_write_intents_account_writeback"),
        Index("ix_write_intents_state_next_check", "state", "next_check_at"),
        Index("ix_write_intents_account_slot", "account_id", "slot_start"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(String(32))
    tool: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(8))
    endpoint: Mapped[str] = mapped_column(String(200))
    target_id: Mapped[str | None] = mapped_column(String(64))
    patient_ref: Mapped[str | None] = mapped_column(String(64))
    vapi_call_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(64), index=True)  # blind index of the tool call
    lookup: Mapped[str | None] = mapped_column(String(64), index=True)  # blind index (a registration's name + DOB)
    slot_start: Mapped[datetime | None]  # a booking's or move's new start (UTC): held while the write is open
    slot_minutes: Mapped[int | None] = mapped_column(Integer)
    provider_id: Mapped[str | None] = mapped_column(String(64))
    operatory: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[str | None] = mapped_column(Text)  # encrypted; null only for writebacks recorded before intents
    state: Mapped[str] = mapped_column(String(16), default=IntentState.INTENDED)
    writeback_id: Mapped[str | None] = mapped_column(String(32))
    created_id: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str | None] = mapped_column(Text)  # Sikka's message, encrypted (it may echo record data)
    office_offline: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    handed_to_staff_at: Mapped[datetime | None]  # when a staff follow-up took it over


class IdentityAttempt(Base):
    """Identity checks counted in a fixed window per scope of an account (a patient id, a token id, a call id);
    see server/throttle.py. Holds identifiers only, no PHI values."""

    __tablename__ = "identity_attempts"

    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # failed checks, plus checks still being evaluated


class PhiIndexKey(Base):
    """Each account's blind-index key (random), wrapped by the PHI cipher."""

    __tablename__ = "phi_index_keys"

    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    wrapped_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKey(Base):
    """One write tool call per (call id, tool, normalised arguments); its outcome is replayed until another write
    of the same call completes after it (then it is stale: the state it described may be gone)."""

    __tablename__ = "idempotency_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # blind index, never the arguments
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    tool: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # in_progress | done
    result: Mapped[str | None] = mapped_column(Text)  # encrypted tool result
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    call_key: Mapped[str | None] = mapped_column(String(64), index=True)  # blind index of the call id
    completed_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]  # an unsettled claim past this time was left by a dead process


class CallPrefetch(Base):
    """What a call's start read from Sikka ahead of its tools (server/prefetch.py): one row per call, from the
    claim (`running`) to `ready` (with the encrypted reads) or `cleared` (the call ended, or wrote: the reads are
    gone). Rows outlive their reads until `expires_at`: their `requests` count against the practice's budget."""

    __tablename__ = "call_prefetches"

    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # blind index of the call id
    state: Mapped[str] = mapped_column(String(16))  # running | ready | cleared
    data: Mapped[str | None] = mapped_column(Text)  # encrypted listings, while `ready`
    requests: Mapped[int] = mapped_column(Integer)  # Sikka requests reserved, then spent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (Index("ix_call_prefetches_account_created", "account_id", "created_at"),)


class PendingPatient(Base):
    """A createPatient whose writeback was still pending: what was submitted, for staff to reconcile."""

    __tablename__ = "pending_patients"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    writeback_id: Mapped[str] = mapped_column(String(32))
    lookup: Mapped[str] = mapped_column(String(64), index=True)  # blind index of name + date of birth
    data: Mapped[str] = mapped_column(Text)  # encrypted
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Consent(Base):
    """A communication consent given during a call (channel, granted, call id, time), encrypted."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    patient_lookup: Mapped[str] = mapped_column(String(64), index=True)  # blind index of the patient id
    data: Mapped[str] = mapped_column(Text)  # encrypted
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InboxKind(StrEnum):
    """What an item in the staff inbox is about."""

    MESSAGE = "message"  # a caller's message (takeMessage)
    WRITE_FAILED = "write_failed"  # a write the assistant sent was refused by the PMS or Sikka
    WRITE_UNCONFIRMED = "write_unconfirmed"  # still not applied after WRITEBACK_MAX_PENDING_SECONDS
    WRITE_NOT_SENT = "write_not_sent"  # a write that never reached Sikka, found after a crash
    BOOKING_MADE = "booking_made"  # a booking the assistant made (a notice, for practices that want one)
    # Requests the PMS cannot take through Sikka, recorded for staff (`recorded_for_staff`).
    APPOINTMENT_BOOKING = "appointment_booking"
    APPOINTMENT_RESCHEDULE = "appointment_reschedule"
    APPOINTMENT_CANCEL = "appointment_cancel"
    NEW_PATIENT = "new_patient"
    CONTACT_UPDATE = "contact_update"


class StaffMessage(Base):
    """One item of the practice's staff inbox: a caller's message, a write that needs a person, or a request the
    PMS cannot take. Who, what and why are encrypted in `data`; deliveries are `staff_deliveries` rows."""

    __tablename__ = "staff_messages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32), default=InboxKind.MESSAGE, server_default=InboxKind.MESSAGE.value)
    vapi_call_id: Mapped[str | None] = mapped_column(String(128))
    urgency: Mapped[str] = mapped_column(String(16))
    data: Mapped[str] = mapped_column(Text)  # encrypted
    # The table an item was sealed for when it came from before the inbox (`staff_followups`); null: this one.
    sealed_as: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    resolved_at: Mapped[datetime | None]


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to be sent (again) at next_attempt_at
    DELIVERED = "delivered"
    DEAD = "dead"  # every attempt failed: dead-lettered (metric, alarm); the item stays in `messages list`


class DeliveryChannel(StrEnum):
    EMAIL = "email"  # Amazon SES to the practice's staff address
    WEBHOOK = "webhook"  # a Standard Webhooks signed POST to the practice's notify URL


class StaffDelivery(Base):
    """One inbox item on its way to one channel: a DB-backed queue that survives restarts."""

    __tablename__ = "staff_deliveries"
    __table_args__ = (
        UniqueConstraint("item_id", "channel", name="uq_staff_deliveries_item_channel"),
        Index("ix_staff_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    item_id: Mapped[str] = mapped_column(String(32), index=True)
    account_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(100))  # "HTTP 503", "MessageRejected": never a body
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class StaffEmail(Base):
    """Where a practice's staff read the inbox by email, and whether they want a notice of every booking."""

    __tablename__ = "staff_emails"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    booking_notices: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MessageEndpoint(Base):
    """Where a practice wants staff messages posted (Standard Webhooks), and its signing secret (encrypted)."""

    __tablename__ = "message_endpoints"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(Text)  # encrypted `whsec_...`
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


__all__ = [
    "OPEN_INTENTS",
    "Account",
    "AuditChainHead",
    "AuditLog",
    "Base",
    "Consent",
    "DeliveryChannel",
    "DeliveryStatus",
    "IdempotencyKey",
    "IdentityAttempt",
    "InboxKind",
    "IntegrationStatus",
    "IntentState",
    "MessageEndpoint",
    "PendingPatient",
    "PhiIndexKey",
    "PmsIntegration",
    "PracticeToken",
    "StaffDelivery",
    "StaffEmail",
    "StaffMessage",
    "SyncLease",
    "VaultSecret",
    "WebhookEvent",
    "WriteIntent",
]
