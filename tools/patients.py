"""searchPatients, getPatientInfo, createPatient, updatePatient."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from server.phones import last_digits
from server.sikka import Appointment, NeedsStaff, Patient, PracticeMetadata, WritebackOutcome
from tools.arguments import Args, DateOfBirth, Name, Phone, ShortText
from tools.base import tool
from tools.context import ToolCall
from tools.gather import Beside, both
from tools.identity import IdentityRefused, VerifyArgs, narrowed_by_birthdate, refusal, verify
from tools.results import (
    CreatePatientResult,
    PatientInfo,
    PatientInfoResult,
    PatientMatch,
    SearchPatientsResult,
    UpcomingAppointment,
    UpdatePatientResult,
)
from tools.spec import CHANGES, CREATES, READ_ONLY
from tools.speech import mask_email, spoken_day, spoken_time

MAX_MATCHES = 5
UPCOMING_WINDOW = timedelta(days=365)


# --- searchPatients ---------------------------------------------------------------------------------


class SearchPatientsArgs(Args):
    phone: Phone | None = None
    name: ShortText | None = Field(None, description='Full name ("Jane Doe") or a single first or last name.')
    date_of_birth: DateOfBirth | None = None

    def summary(self) -> str:
        given = [
            label
            for label, value in (
                ("phone", self.phone),
                ("name", self.name),
                ("date of birth", self.date_of_birth),
            )
            if value
        ]
        return "searched by " + " and ".join(given) if given else "search without a phone or name"


@tool(
    "searchPatients",
    title="Find a patient",
    description="""
Find the caller's patient record by phone number (any phone on file) or name, optionally narrowed by date of
birth. Call this first, with the number or name the caller gives; a date of birth alone is not a search. With
no phone or name, it searches by the number the call comes from (when the platform provides it). Returns
at most 5 matches with patientId, firstName and lastName only; with more, ask for the date of birth and search
again. Then verify identity with getPatientInfo (patientId, dateOfBirth and the full name) before sharing or
changing anything.
""",
    hints=READ_ONLY,
    crud="R",
    phi_fields=("name", "phone", "dateOfBirth"),
    summary="patient search",
)
async def search_patients(call: ToolCall, args: SearchPatientsArgs) -> SearchPatientsResult:
    by_caller = not (args.phone or args.name) and call.caller_number is not None
    phone = call.caller_number if by_caller else args.phone
    call.entry.summary = "searched by the calling number" if by_caller else args.summary()
    if not (phone or args.name):
        if args.date_of_birth:
            return SearchPatientsResult(
                message="Please ask for the patient's name or phone number as well as the date of birth.",
                outcome="needs_verification",
                code="name_or_phone_needed",
            )
        return SearchPatientsResult(
            message="Please correct the arguments: give a phone number or a name.",
            outcome="invalid",
            code="invalid_arguments",
        )
    words = (args.name or "").split()
    full_name = len(words) >= 2
    patients = await call.practice.find_patients(
        phone=phone,
        first_name=words[0] if full_name else None,
        last_name=words[-1] if full_name else None,
        word=words[0] if len(words) == 1 else None,
    )
    if args.date_of_birth:
        try:
            patients = await narrowed_by_birthdate(call, patients, args.date_of_birth)
        except IdentityRefused as exc:
            return refusal(SearchPatientsResult, exc.code)
    if not patients:
        return SearchPatientsResult(
            message="I couldn't find a patient with those details.", outcome="not_found", code="no_match"
        )
    if len(patients) > MAX_MATCHES:
        return SearchPatientsResult(
            message="I found several patients; please ask for the date of birth to narrow it down.",
            outcome="needs_verification",
            code="too_many_matches",
        )
    call.entry.touched(*(p.patient_id for p in patients))
    noun = "patient" if len(patients) == 1 else "patients"
    source = " by the number you are calling from" if by_caller else ""
    return SearchPatientsResult(
        message=f"I found {len(patients)} matching {noun}{source}; verify the name and date of birth before "
        "sharing details.",
        outcome="ok",
        code="patients_found",
        matched_by="callerNumber" if by_caller else None,
        matches=[
            PatientMatch(patient_id=p.patient_id, first_name=p.first_name, last_name=p.last_name) for p in patients
        ],
    )


# --- getPatientInfo ---------------------------------------------------------------------------------


def upcoming(
    appointments: list[Appointment], metadata: PracticeMetadata, now: datetime, limit: int = 5
) -> list[UpcomingAppointment]:
    zone: ZoneInfo = metadata.zone
    future = sorted(
        (a for a in appointments if not a.cancelled and a.start.replace(tzinfo=zone) >= now),
        key=lambda a: a.start,
    )
    return [
        UpcomingAppointment(
            appointment_id=a.appointment_id,
            start_time=a.start.replace(tzinfo=zone).isoformat(),
            provider_name=p.display_name if (p := metadata.provider(a.provider_id)) else a.provider_id,
            appointment_type=a.type or a.description,
        )
        for a in future[:limit]
    ]


@tool(
    "getPatientInfo",
    title="Verify a patient and read their details",
    description="""
Verify the caller's identity and read their record. Needs patientId (from searchPatients) and the date of
birth the caller states; only when they match does it return the name, preferred name, the last digits of the
phone, a masked email, upcoming appointments (with appointmentId, for rescheduling or cancelling) and the last
visit. Do not guess the date of birth: repeated failed checks on one call are refused.
""",
    hints=READ_ONLY,
    crud="R",
    phi_fields=("name", "preferredName", "phone", "email", "appointments", "lastVisit"),
    summary="identity check and patient details",
)
async def get_patient_info(call: ToolCall, args: VerifyArgs) -> PatientInfoResult:
    today = datetime.now(UTC).date()
    booked = Beside(
        lambda: call.practice.appointments(
            today - timedelta(days=1), today + UPCOMING_WINDOW, patient_id=args.patient_id
        )
    )
    practice = Beside(call.practice.metadata)
    patient = await verify(call, args, PatientInfoResult, beside=(booked, practice))
    if not isinstance(patient, Patient):
        return patient
    appointments, metadata = booked.result(), practice.result()
    info = PatientInfo(
        patient_id=patient.patient_id,
        first_name=patient.first_name,
        last_name=patient.last_name,
        preferred_name=patient.preferred_name or None,
        phone_last_digits=last_digits(next(iter(patient.phones.values()), "")) or None,
        email_masked=mask_email(patient.email),
        last_visit=patient.last_visit.isoformat() if patient.last_visit else None,
        upcoming_appointments=upcoming(appointments, metadata, datetime.now(UTC)),
    )
    called = patient.preferred_name or patient.first_name
    if info.upcoming_appointments:
        first = datetime.fromisoformat(info.upcoming_appointments[0].start_time)
        message = f"Verified. {called}'s next appointment is {spoken_day(first.date())} at {spoken_time(first)}."
    else:
        message = f"Verified. {called} has no upcoming appointments."
    return PatientInfoResult(message=message, outcome="ok", code="patient_verified", patient=info)


# --- createPatient ----------------------------------------------------------------------------------


class Address(Args):
    line1: ShortText | None = None
    city: Name | None = None
    state: str | None = Field(None, max_length=20)
    postal_code: str | None = Field(None, max_length=12)

    def to_sikka(self) -> dict[str, str]:
        pairs = (
            ("address_line1", self.line1),
            ("city", self.city),
            ("state", self.state),
            ("zipcode", self.postal_code),
        )
        return {key: value for key, value in pairs if value}


class Consents(Args):
    sms: bool | None = Field(None, description="May the practice text this number?")
    email: bool | None = Field(None, description="May the practice email the patient?")
    phone: bool | None = Field(None, description="May the practice call this number?")

    def given(self) -> dict[str, bool]:
        return {channel: value for channel, value in self.model_dump().items() if value is not None}


class CreatePatientArgs(Args):
    first_name: Name
    last_name: Name
    date_of_birth: DateOfBirth
    phone: Phone
    email: str | None = Field(None, max_length=100, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: Address | None = None
    consents: Consents | None = Field(None, description="Contact consents the caller gave on this call.")


async def existing_patient(call: ToolCall, args: CreatePatientArgs) -> Patient | None:
    """Same name + date of birth, or same phone + date of birth."""
    by_name, by_phone = await both(
        call.practice.find_patients(first_name=args.first_name, last_name=args.last_name, birthdate=args.date_of_birth),
        call.practice.find_patients(phone=args.phone, birthdate=args.date_of_birth),
    )
    return next(iter(by_name + by_phone), None)


@tool(
    "createPatient",
    title="Register a new patient",
    description="""
Register a new patient after searchPatients found no record. Needs first and last name, date of birth and
phone; email, address and contact consents are optional. Refuses to create a duplicate (same name and date of
birth, or same phone and date of birth) without saying whose record it is: then find and verify the caller with
searchPatients and getPatientInfo. The practice system saves new records asynchronously: the answer is either
confirmed with the new patientId or honestly pending.
""",
    hints=CREATES,
    crud="C",
    phi_fields=("name", "dateOfBirth", "phone", "email", "address", "consents"),
    summary="new patient registration",
    idempotent=True,
)
async def create_patient(call: ToolCall, args: CreatePatientArgs) -> CreatePatientResult:
    records = call.services.phi_store
    duplicate = await existing_patient(call, args)
    if duplicate is not None:  # no id or name in the answer: it would identify someone unverified
        call.entry.targeted(duplicate.patient_id)
        return CreatePatientResult(
            message="It looks like this patient is already registered, so I did not create a new record.",
            outcome="refused",
            code="duplicate_patient",
        )
    lookup = await records.pending_patient_lookup(
        call.account_id, args.first_name, args.last_name, args.date_of_birth.isoformat()
    )
    pending = await records.pending_patient(call.account_id, lookup)
    if pending is not None:
        return CreatePatientResult(
            message="This registration was already submitted and is still being saved by the office system.",
            outcome="pending",
            code="registration_pending",
            reference=pending.writeback_id,
        )
    metadata = await call.practice.metadata()
    if not metadata.capabilities.new_patient:
        return await _registration_for_staff(call, args)
    try:
        outcome = await call.practice.create_patient(
            first_name=args.first_name,
            last_name=args.last_name,
            birthdate=args.date_of_birth,
            phone=args.phone,
            email=args.email,
            address=args.address.to_sikka() if args.address else {},
        )
    except NeedsStaff:
        return await _registration_for_staff(call, args)
    return await _registration_result(call, args, outcome, lookup)


async def _registration_for_staff(call: ToolCall, args: CreatePatientArgs) -> CreatePatientResult:
    await call.services.phi_store.add_followup(
        call.account_id, "new_patient", args.model_dump(mode="json", by_alias=True), call.vapi_call_id
    )
    return CreatePatientResult(
        message="This office registers new patients itself; I've passed the details to the staff.",
        outcome="recorded_for_staff",
        code="registration_recorded_for_staff",
    )


async def _registration_result(
    call: ToolCall, args: CreatePatientArgs, outcome: WritebackOutcome, lookup: str
) -> CreatePatientResult:
    records = call.services.phi_store
    consents = args.consents.given() if args.consents else {}
    if outcome.status == "confirmed" and outcome.created_id:
        call.entry.touched(outcome.created_id)
        await records.add_consents(call.account_id, outcome.created_id, consents, call.vapi_call_id)
        return CreatePatientResult(
            message=f"{args.first_name} is now registered.",
            outcome="confirmed",
            code="patient_created",
            patient_id=outcome.created_id,
            reference=outcome.writeback_id,
        )
    if outcome.status == "pending":
        details = {**args.model_dump(mode="json", by_alias=True), "writebackId": outcome.writeback_id}
        await records.add_pending_patient(call.account_id, outcome.writeback_id, lookup, details)
        return CreatePatientResult(
            message="I've sent the registration; the office system is still saving it, so it isn't confirmed yet.",
            outcome="pending",
            code="registration_pending",
            reference=outcome.writeback_id,
        )
    return CreatePatientResult(
        message="The office system did not accept the registration; the staff will need to add this patient.",
        outcome="refused",
        code="registration_failed",
        reference=outcome.writeback_id,
    )


# --- updatePatient ----------------------------------------------------------------------------------


class UpdatePatientArgs(VerifyArgs):
    phone: Phone | None = None
    email: str | None = Field(None, max_length=100, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: Address | None = None
    preferred_name: Name | None = None
    consents: Consents | None = None

    @model_validator(mode="after")
    def _some_change(self) -> UpdatePatientArgs:
        if not any((self.phone, self.email, self.address, self.preferred_name, self.consents)):
            raise ValueError("give at least one of phone, email, address, preferredName or consents")
        return self

    def staff_changes(self) -> dict[str, object]:
        """The requested contact changes, by argument name (encrypted into a staff follow-up)."""
        changes = self.model_dump(mode="json", by_alias=True, include={"phone", "email", "address", "preferred_name"})
        return {name: value for name, value in changes.items() if value is not None}


@tool(
    "updatePatient",
    title="Update a patient's contact details",
    description="""
Change a verified patient's phone, email, address or preferred name, and record contact consents. Needs
patientId and dateOfBirth. Most practice systems cannot take contact changes through the integration: then the
change is recorded for the office staff and the answer says so (recorded_for_staff), never a false "done".
""",
    hints=CHANGES,
    crud="U",
    phi_fields=("phone", "email", "address", "preferredName", "consents"),
    summary="contact details update",
    idempotent=True,
)
async def update_patient(call: ToolCall, args: UpdatePatientArgs) -> UpdatePatientResult:
    patient = await verify(call, args, UpdatePatientResult)
    if not isinstance(patient, Patient):
        return patient
    metadata = await call.practice.metadata()
    records = call.services.phi_store
    if args.consents:
        await records.add_consents(call.account_id, patient.patient_id, args.consents.given(), call.vapi_call_id)
    for_staff = args.staff_changes()
    preferred: WritebackOutcome | None = None
    # Sikka's PATCH /patient exists only for OrthoTrac and Dolphin, and cannot change phones, email or address.
    if args.preferred_name and metadata.capabilities.patient_update:
        with contextlib.suppress(NeedsStaff):  # a name too long for the PMS: left for staff
            preferred = await call.practice.update_preferred_name(patient.patient_id, args.preferred_name)
        if preferred is not None and preferred.status != "failed":
            for_staff.pop("preferredName")
    if for_staff:
        await records.add_followup(
            call.account_id,
            "contact_update",
            {"patientId": patient.patient_id, **for_staff},
            call.vapi_call_id,
        )
    return _update_result(preferred, bool(for_staff))


def _update_result(preferred: WritebackOutcome | None, for_staff: bool) -> UpdatePatientResult:
    """Say exactly what happened: confirmed, still pending, or handed to staff."""
    confirmed = preferred is not None and preferred.status == "confirmed"
    pending = preferred is not None and preferred.status == "pending"
    reference = preferred.writeback_id if preferred else None
    updated = ["preferredName"] if confirmed else []
    if for_staff:
        extra = " The preferred name is updated." if confirmed else ""
        extra += " The preferred name change is still being saved." if pending else ""
        return UpdatePatientResult(
            message=f"I've passed the change to the office staff, who will update the record.{extra}",
            outcome="recorded_for_staff",
            code="recorded_for_staff",
            updated_fields=updated,
            reference=reference,
        )
    if pending:
        return UpdatePatientResult(
            message="I've sent the change; the office system hasn't confirmed it yet.",
            outcome="pending",
            code="update_pending",
            reference=reference,
        )
    if confirmed:
        return UpdatePatientResult(
            message="I've updated the preferred name.",
            outcome="confirmed",
            code="patient_updated",
            updated_fields=updated,
            reference=reference,
        )
    return UpdatePatientResult(
        message="I've recorded the contact preferences.", outcome="confirmed", code="consents_recorded"
    )
