"""What tools return: a speakable `message` first, then a stable `outcome` and `code`, then structured data.

Outcomes: `ok` (a read answered), `confirmed`, `pending`, `recorded_for_staff`, `not_found`,
`needs_verification`, `refused`, `invalid` (bad arguments) and `unavailable` (upstream down).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Outcome = Literal[
    "ok",
    "confirmed",
    "pending",
    "recorded_for_staff",
    "not_found",
    "needs_verification",
    "refused",
    "invalid",
    "unavailable",
]
# How each outcome is audited: (audit outcome, HTTP-like status).
AUDIT_OUTCOMES: dict[str, tuple[str, int]] = {
    "ok": ("success", 200),
    "confirmed": ("success", 200),
    "pending": ("success", 202),
    "recorded_for_staff": ("success", 202),
    "not_found": ("success", 404),
    "needs_verification": ("denied", 403),
    "refused": ("denied", 409),
    "invalid": ("failed", 400),
    "unavailable": ("failed", 503),
}
ERROR_OUTCOMES = frozenset({"invalid", "unavailable"})


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class ToolResult(Model):
    message: str = Field(description="One speakable sentence for the caller.")
    outcome: Outcome = Field(description="What happened, in one word.")
    code: str = Field(description="Stable machine-readable reason, e.g. `patients_found`, `slot_taken`.")

    def audit_outcome(self) -> tuple[str, int, str | None]:
        audit, status = AUDIT_OUTCOMES[self.outcome]
        return audit, status, None if audit == "success" else self.code

    @property
    def is_error(self) -> bool:
        return self.outcome in ERROR_OUTCOMES


class PatientMatch(Model):
    patient_id: str
    first_name: str
    last_name: str


class SearchPatientsResult(ToolResult):
    matches: list[PatientMatch] = Field(default_factory=list, description="At most 5; no DOB, phone or email.")
    matched_by: Literal["callerNumber"] | None = Field(
        None, description="Set when the search used the number the call comes from (not proof of identity)."
    )


class UpcomingAppointment(Model):
    appointment_id: str
    start_time: str = Field(description="ISO 8601 with the practice's UTC offset.")
    provider_name: str
    appointment_type: str


class PatientInfo(Model):
    patient_id: str
    first_name: str
    last_name: str
    preferred_name: str | None = None
    phone_last_digits: str | None = Field(None, description="Last 4 digits only.")
    email_masked: str | None = Field(None, description="e.g. j***@example.com")
    last_visit: str | None = Field(None, description="YYYY-MM-DD")
    upcoming_appointments: list[UpcomingAppointment] = Field(default_factory=list)


class PatientInfoResult(ToolResult):
    patient: PatientInfo | None = None


class WriteResult(ToolResult):
    reference: str | None = Field(None, description="Sikka writeback id to quote while a write is pending.")


class CreatePatientResult(WriteResult):
    patient_id: str | None = Field(None, description="The new patient's PMS id, once confirmed.")


class UpdatePatientResult(WriteResult):
    updated_fields: list[str] = Field(default_factory=list, description="Names of the fields this call changed.")


class Slot(Model):
    start_time: str = Field(description="ISO 8601 local time with offset, e.g. 2026-12-01T09:30:00-05:00.")
    provider_id: str
    provider_name: str
    operatory: str


class DatedResult(ToolResult):
    today: str | None = Field(None, description="Today's date where the practice is (YYYY-MM-DD), to retry with.")


class AvailabilityResult(DatedResult):
    slots: list[Slot] = Field(default_factory=list, description="At most 5, spread over the day(s).")
    next_available_dates: list[str] = Field(
        default_factory=list, description="When the asked day(s) are full: the nearest dates with openings."
    )


class AppointmentResult(WriteResult, DatedResult):
    appointment_id: str | None = None
    start_time: str | None = None
    provider_name: str | None = None
    alternatives: list[Slot] = Field(default_factory=list, description="Offered when the time was just taken.")
