"""What tools return: a speakable `message` first, then a stable `outcome` and `code`, then structured data.

Each `code` has one `outcome` (tools/codes.py): a result takes its outcome from its code, and refuses another.

The `message` is built only from this service's own words, numbers, dates and times: never from a PMS record's
free text (names, appointment descriptions, carrier, provider, practice or holiday names) nor from a caller's.
That text appears only in the structured fields typed `RecordName`, `RecordLabel` or `RecordLine` here: cleaned
(server/text.py `plain`: one line, no control or invisible characters) and cut to a realistic length, whoever
builds the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from server.text import plain
from tools.codes import OUTCOME_OF, Code, Outcome

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
# Answers whose audit differs from their outcome's: a duplicate request that found the first still running did
# nothing and knows no result (it is not a success, nor a 202 for work it started).
AUDIT_BY_CODE: dict[Code, tuple[str, int]] = {
    Code.DUPLICATE_IN_PROGRESS: ("failed", 409),
}
ERROR_OUTCOMES = frozenset({"invalid", "unavailable"})


def record_text(limit: int) -> Callable[[str], str]:
    """Free text from the practice's records, as data: cleaned and cut to `limit` characters."""
    return lambda text: plain(text, limit)


RecordName = Annotated[str, AfterValidator(record_text(60))]  # a patient's or provider's name
RecordLabel = Annotated[str, AfterValidator(record_text(80))]  # an appointment type, carrier, category, holiday
RecordLine = Annotated[str, AfterValidator(record_text(160))]  # a practice's name, address or website


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class ToolResult(Model):
    message: str = Field(description="One speakable sentence for the caller.")
    outcome: Outcome = Field(description="What happened, in one word.")
    code: Code = Field(description="Stable machine-readable reason, e.g. `patients_found`, `slot_taken`.")
    today: str | None = Field(None, description="Today's date where the practice is (YYYY-MM-DD).")

    @model_validator(mode="before")
    @classmethod
    def _outcome_of_code(cls, data: Any) -> Any:
        """The outcome is the code's (tools/codes.py); one given must agree."""
        if not (isinstance(data, dict) and "code" in data):
            return data
        code = Code(data["code"])
        if data.get("outcome", OUTCOME_OF[code]) != OUTCOME_OF[code]:
            raise ValueError(f"{code} is always {OUTCOME_OF[code]}")
        return {**data, "outcome": OUTCOME_OF[code]}

    def audit_outcome(self) -> tuple[str, int, str | None]:
        audit, status = AUDIT_BY_CODE.get(self.code) or AUDIT_OUTCOMES[self.outcome]
        return audit, status, None if audit == "success" else self.code

    @property
    def is_error(self) -> bool:
        return self.outcome in ERROR_OUTCOMES


class PatientMatch(Model):
    patient_id: str
    first_name: RecordName
    last_name: RecordName


class SearchPatientsResult(ToolResult):
    matches: list[PatientMatch] = Field(default_factory=list, description="At most 5; no DOB, phone or email.")
    matched_by: Literal["callerNumber"] | None = Field(
        None, description="Set when the search used the number the call comes from (not proof of identity)."
    )


class UpcomingAppointment(Model):
    appointment_id: str
    start_time: str = Field(description="ISO 8601 with the practice's UTC offset.")
    provider_name: RecordName
    appointment_type: RecordLabel


class PatientInfo(Model):
    patient_id: str
    first_name: RecordName
    last_name: RecordName
    preferred_name: RecordName | None = None
    phone_last_digits: str | None = Field(None, description="Last 4 digits only.")
    email_masked: RecordLabel | None = Field(None, description="e.g. j***@example.com")
    last_visit: str | None = Field(None, description="YYYY-MM-DD")
    upcoming_appointments: list[UpcomingAppointment] = Field(default_factory=list)


class PatientInfoResult(ToolResult):
    patient: PatientInfo | None = None


R = TypeVar("R", bound=ToolResult)


class Refused(Exception):
    """An answer decided before the tool's work is done (a failed identity check, an unknown appointment, a time
    that cannot be booked): raised where it is decided, answered by the tool wrapper (tools/base.py) as the
    tool's own result type, inside the once-per-key work, so a write tool's refusal is stored and replayed."""

    def __init__(self, code: Code, message: str, **fields: Any) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.fields = fields

    def result(self, result_type: type[R]) -> R:
        """The refusal as `result_type` (its outcome is the code's)."""
        return result_type(message=self.message, code=self.code, **self.fields)


class WriteResult(ToolResult):
    reference: str | None = Field(None, description="Sikka writeback id to quote while a write is pending.")
    office_system_offline: bool | None = Field(
        None, description="True when the office's computer is offline: the request is saved and waits for it."
    )


class CreatePatientResult(WriteResult):
    patient_id: str | None = Field(None, description="The new patient's PMS id, once confirmed.")


class UpdatePatientResult(WriteResult):
    updated_fields: list[str] = Field(default_factory=list, description="Names of the fields this call changed.")


class Slot(Model):
    start_time: str = Field(description="ISO 8601 local time with offset, e.g. 2026-12-01T09:30:00-05:00.")
    provider_id: str
    provider_name: RecordName
    operatory: RecordLabel


class ProviderChoice(Model):
    provider_id: str
    name: RecordName


class AvailabilityResult(ToolResult):
    day: str | None = Field(
        None, description='The day(s) asked, as resolved, to confirm with the caller: "Tuesday, December 8".'
    )
    start_date: str | None = Field(None, description="The first day asked, as resolved (YYYY-MM-DD).")
    end_date: str | None = Field(None, description="The last day asked, as resolved (YYYY-MM-DD).")
    slots: list[Slot] = Field(
        default_factory=list, description="At most 5: spread over the day(s), or the nearest to preferredTime."
    )
    providers: list[ProviderChoice] = Field(
        default_factory=list, description="When providerName fits more than one provider: the ones it fits."
    )
    next_available_dates: list[str] = Field(
        default_factory=list, description="When the asked day(s) are full: the nearest dates with openings."
    )


class AppointmentResult(WriteResult):
    appointment_id: str | None = None
    start_time: str | None = None
    provider_name: RecordName | None = None
    alternatives: list[Slot] = Field(default_factory=list, description="Offered when the time was just taken.")


class TimeSpan(Model):
    opens: str = Field(description="HH:MM, practice-local.")
    closes: str = Field(description="HH:MM, practice-local.")


class OpeningHours(Model):
    day: str = Field(description="YYYY-MM-DD")
    weekday: str
    open: bool
    hours: list[TimeSpan] = Field(default_factory=list)
    holiday: RecordLabel | None = Field(None, description="The holiday's name when the office is closed for one.")
    said: RecordLine = Field(
        description='e.g. "8:00 AM to 12:00 PM and 1:00 PM to 5:00 PM", "closed for Founders Day".'
    )


class PracticeInfoResult(ToolResult):
    name: RecordLine | None = None
    address: RecordLine | None = None
    phone: str | None = Field(None, description="The office's main number (for a transfer, use transferCall).")
    website: RecordLine | None = None
    time_zone: str | None = Field(None, description="IANA time zone, e.g. America/New_York.")
    open_now: bool | None = None
    hours: list[OpeningHours] = Field(default_factory=list, description="Today and the next six days.")


class ProviderInfo(Model):
    provider_id: str = Field(description="For checkAvailability's providerId.")
    name: RecordName
    role: Literal["dentist", "hygienist", "specialist"]
    specialty: RecordLabel | None = None


class ProvidersResult(ToolResult):
    providers: list[ProviderInfo] = Field(default_factory=list)


class InsuranceAcceptedResult(ToolResult):
    accepted: bool | None = Field(None, description="The carrier is on the practice's list (coverage is not).")
    matches: list[RecordLabel] = Field(default_factory=list, description="The practice's carriers that match the name.")
    similar: list[RecordLabel] = Field(
        default_factory=list, description="Carriers sharing part of the name, when none match."
    )


class BalanceResult(ToolResult):
    patient_due: str | None = Field(None, description="Dollars, e.g. 125.50; negative is a credit.")
    insurance_pending: str | None = Field(None, description="Dollars expected from insurance.")
    account_balance: str | None = Field(None, description="Dollars: the account's total.")
    on_guarantor_account: bool | None = Field(
        None, description="True when the amounts are the guarantor's (account holder's) account, not the patient's."
    )


class PlanCoverage(Model):
    category: RecordLabel = Field(description="The practice's coverage-table category, e.g. Crowns.")
    percentage_covered: int | None = None
    co_pay: str | None = Field(None, description="Dollars, when the table lists one.")
    deductible_applies: bool


class InsurancePlan(Model):
    rank: Literal["primary", "secondary"]
    carrier_name: RecordLabel
    coverage: PlanCoverage | None = Field(None, description="What the practice's table lists for the asked category.")


class PatientInsuranceResult(ToolResult):
    plans: list[InsurancePlan] = Field(default_factory=list, description="Carriers on file; never member ids.")


class MessageResult(ToolResult):
    message_id: str | None = Field(None, description="The stored message's id (for the office staff).")
    urgency: str | None = None
