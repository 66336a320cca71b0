"""Retention purge and the breach report, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from server.audit import chain
from server.audit.record import AuditWriter
from server.audit.report import breach_report
from server.caller import Caller
from server.db.models import (
    AuditLog,
    Consent,
    IdempotencyKey,
    IdentityAttempt,
    InboxKind,
    IntentState,
    PendingPatient,
    StaffMessage,
    WriteIntent,
)
from server.inbox import StaffNote
from server.intents import Asked, Write
from server.retention import purge
from server.services import Services, open_services
from server.throttle import AttemptLimiter, Limit
from tests.conftest import make_settings
from tests.integration.test_audit_chain import record

pytestmark = pytest.mark.anyio
ACCOUNT = "acc_retention"


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    async with open_services(make_settings(database_url)) as ready:
        yield ready


async def age(services: Services, model: type, column: str, days: int) -> None:
    async with services.sessions.begin() as session:
        await session.execute(update(model).values({column: datetime.now(UTC) - timedelta(days=days)}))


async def count(services: Services, model: type) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def seed(services: Services) -> None:
    await services.inbox.post(
        ACCOUNT, InboxKind.CONTACT_UPDATE, StaffNote("update", details={"email": "a@example.com"}), vapi_call_id=None
    )
    await services.phi_store.add_consents(ACCOUNT, "10001", {"sms": True}, "call-1")
    async with services.sessions.begin() as session:
        session.add(IdempotencyKey(key_hash="k" * 64, account_id=ACCOUNT, tool="bookAppointment", status="done"))
        session.add(PendingPatient(id="p1", account_id=ACCOUNT, writeback_id="275001", lookup="l" * 64, data="x"))


async def test_purge_deletes_old_phi_and_keeps_young_records(services: Services) -> None:
    await seed(services)
    await age(services, PendingPatient, "created_at", 31)
    await age(services, IdempotencyKey, "created_at", 8)
    dry = await purge(services, dry_run=True)
    assert dry["pending_patients"] == 1
    assert dry["idempotency_keys"] == 1
    assert dry["staff_messages"] == 0
    assert dry["consents"] == 0
    assert await count(services, PendingPatient) == 1  # a dry run deletes nothing

    deleted = await purge(services, dry_run=False)
    assert deleted == {**dry, "pms_audit_logs": 0}
    assert await count(services, PendingPatient) == 0
    assert await count(services, IdempotencyKey) == 0
    assert await count(services, StaffMessage) == 1
    assert await count(services, Consent) == 1


async def test_open_writes_are_never_purged_and_final_ones_are_after_their_days(services: Services) -> None:
    write = Write("book_appointment", "POST", "appointment", {"patient_id": "10001"})
    asked = Asked(tool="bookAppointment", request="book", who="Ann Lee", callback_number=None)
    open_one = await services.intents.record(ACCOUNT, write, asked, Caller(ACCOUNT, "tok"), None)
    final = await services.intents.record(ACCOUNT, write, asked, Caller(ACCOUNT, "tok"), None)
    await services.intents.not_sent(final, "refused", actor=Caller.system("t"), tell_staff=False)
    await age(services, WriteIntent, "recorded_at", services.settings.retention_idempotency_days + 30)
    assert (await purge(services, dry_run=False))["write_intents"] == 1
    async with services.sessions() as session:
        left = (await session.scalars(select(WriteIntent))).all()
    assert [(row.id, row.state) for row in left] == [(open_one.id, IntentState.INTENDED)]


async def test_purge_keeps_audit_records_younger_than_six_years(services: Services) -> None:
    writer = AuditWriter(services.sessions)
    now = datetime.now(UTC)
    for n, years in enumerate((7, 5.9, 1)):
        await writer.write(record(ACCOUNT, n, recorded_at=now - timedelta(days=365 * years)))
    deleted = await purge(services, dry_run=False)
    assert deleted["pms_audit_logs"] == 1
    assert await count(services, AuditLog) == 2
    async with services.sessions() as session:
        checked, problem = await chain.verify(session)
    assert problem is None
    assert checked == 2


async def test_breach_report(services: Services) -> None:
    writer = AuditWriter(services.sessions)
    await writer.write(record(ACCOUNT, 1, patient_ref="10001,10002", phi_fields=["name"]))
    await writer.write(record(ACCOUNT, 2, patient_ref="10001", phi_fields=["appointments"], actor="tok_b"))
    await writer.write(record(ACCOUNT, 3, patient_ref="10003", phi_accessed=False, phi_fields=[]))
    await writer.write(record("acc_other", 4, patient_ref="10009"))
    await services.phi_store.add_consents(ACCOUNT, "10001", {"sms": True, "email": False}, "call-7")
    now = datetime.now(UTC)
    report = await breach_report(services, ACCOUNT, now - timedelta(hours=1), now + timedelta(hours=1))
    data = report.as_json()
    by_patient = {p["patientRef"]: p["accesses"] for p in data["patients"]}
    assert set(by_patient) == {"10001", "10002"}
    assert [a["phiFields"] for a in by_patient["10001"]] == [["name"], ["appointments"]]
    assert [a["tokenId"] for a in by_patient["10001"]] == ["tok_test", "tok_b"]
    assert by_patient["10002"][0]["vapiCallId"] == "call-1"
    assert sorted((c["channel"], c["granted"]) for c in data["consents"]) == [("email", False), ("sms", True)]
    assert {c["vapiCallId"] for c in data["consents"]} == {"call-7"}
    lines = report.as_csv().splitlines()
    assert lines[0] == "patientRef,recordedAt,action,phiFields,tokenId,vapiCallId,ipAddress,outcome"
    assert len(lines) == 4
    empty = await breach_report(services, ACCOUNT, now + timedelta(hours=2), now + timedelta(hours=3))
    assert empty.as_json()["patients"] == []


async def test_identity_counters_are_purged_once_their_windows_are_over(services: Services) -> None:
    limit = Limit("patient", failures=5, window=timedelta(hours=24))
    limiter = AttemptLimiter(services.sessions, lambda: datetime.now(UTC) - timedelta(days=3))
    await limiter.reserve(ACCOUNT, [(limit, "10001")])
    await AttemptLimiter(services.sessions).reserve(ACCOUNT, [(limit, "10002")])
    assert (await purge(services, dry_run=False))["identity_attempts"] == 1
    assert await count(services, IdentityAttempt) == 1
