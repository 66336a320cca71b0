"""The identity check: a patient id and a matching date of birth before anything is disclosed or changed.

Failures are counted per Vapi call from the audit log itself (error code `identity_mismatch`), so the limit
holds across replicas; without a call id, per token over the last 15 minutes.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TypeVar

from sqlalchemy import func, select

from server.db.models import AuditLog, utcnow
from server.sikka.records import Patient
from tools.context import ToolCall
from tools.results import ToolResult

R = TypeVar("R", bound=ToolResult)

MAX_FAILED_CHECKS = 3
WINDOW_WITHOUT_CALL_ID = timedelta(minutes=15)
MISMATCH = "identity_mismatch"
LOCKED = "too_many_attempts"


class IdentityRefused(Exception):
    """The caller is not (or no longer) allowed to act on this patient; `code` says which."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def failed_checks(call: ToolCall) -> int:
    query = (
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.account_id == call.account_id, AuditLog.error_code == MISMATCH)
    )
    if call.vapi_call_id:
        query = query.where(AuditLog.vapi_call_id == call.vapi_call_id)
    else:
        query = query.where(AuditLog.actor == call.actor, AuditLog.recorded_at >= utcnow() - WINDOW_WITHOUT_CALL_ID)
    async with call.services.sessions() as session:
        return int(await session.scalar(query) or 0)


async def verified_patient(call: ToolCall, patient_id: str, date_of_birth: date) -> Patient:
    """The patient, if the date of birth matches; raises IdentityRefused otherwise (same answer for an
    unknown id and a wrong date, so the check does not reveal who is a patient)."""
    if await failed_checks(call) >= MAX_FAILED_CHECKS:
        raise IdentityRefused(LOCKED)
    patient = await call.practice.patient(patient_id)
    if patient is None or patient.birthdate != date_of_birth:
        raise IdentityRefused(MISMATCH)
    return patient


def refusal(result_type: type[R], code: str) -> R:
    if code == LOCKED:
        message = "I can't verify this patient on this call; please ask them to call the office directly."
    else:
        message = "I couldn't verify that patient. Please confirm the patient and their date of birth."
    return result_type(message=message, outcome="needs_verification", code=code)


async def verify(call: ToolCall, patient_id: str, date_of_birth: date, result_type: type[R]) -> Patient | R:
    """The verified patient (recorded as touched in the audit entry), or the refusal to answer with."""
    try:
        patient = await verified_patient(call, patient_id, date_of_birth)
    except IdentityRefused as exc:
        return refusal(result_type, exc.code)
    call.entry.touched(patient.patient_id)
    return patient
