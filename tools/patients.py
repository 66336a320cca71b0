"""searchPatients, getPatientInfo, createPatient, updatePatient."""

from __future__ import annotations

import contextlib
from datetime import datetime

from pydantic import Field, model_validator

from server.inbox import InboxKind, StaffNote
from server.intents import Asked, Intent, IntentState, Progress
from server.phones import last_digits
from server.sikka import Appointment, NeedsStaff, Patient, PracticeMetadata, writes
from tools.arguments import (
    AddressLine,
    Args,
    DateOfBirth,
    Email,
    FirstName,
    FullName,
    LastName,
    Phone,
    PlaceName,
    PostalCode,
    PreferredName,
    State,
)
from tools.base import tool
from tools.codes import Code
from tools.context import ToolCall
from tools.gather import Beside, both
from tools.identity import VerifyArgs, name_matches, narrowed_by_birthdate, verify
from tools.results import (
    CreatePatientResult,
    PatientInfo,
    PatientInfoResult,
    PatientMatch,
    SearchPatientsResult,
    UpcomingAppointment,
    UpdatePatientResult,
)
from tools.spec import CHANGES, CHECKS_IDENTITY, CREATES
from tools.speech import mask_email, spoken_day, spoken_time
from tools.writing import NOT_SENT, callback_number, is_pending, patient_name, waiting

MAX_MATCHES = 5


# --- searchPatients ---------------------------------------------------------------------------------


class SearchPatientsArgs(Args):
    phone: Phone | None = None
    name: FullName | None = Field(None, description='Full name ("Jane Doe") or a single first or last name.')
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


def surnames(words: list[str]) -> list[str]:
    """The last names a full name may end with, as a record may store them: each run of last words, spaced
    ("De La Cruz", "La Cruz", "Cruz") and run together ("DeLaCruz"; a spelled-out "S M I T H" is "SMITH")."""
    runs = [words[start:] for start in range(1, len(words))]
    return list(dict.fromkeys(form for run in runs for form in (" ".join(run), "".join(run))))


async def found(call: ToolCall, phone: str | None, name: str | None) -> list[Patient]:
    """By phone; or by a full name, as the identity check matches it (tools/identity.py `name_matches`: first or
    preferred name, middle names, multi-part and spelled-out names) among the patients with a last name it may
    end with; or by one word, a first or last name."""
    words = (name or "").split()
    if phone or len(words) < 2:
        return await call.practice.find_patients(phone=phone, word=words[0] if words else None)
    candidates = await call.practice.find_patients(surnames=surnames(words))
    return [patient for patient in candidates if name_matches(patient, " ".join(words))]


@tool(
    "searchPatients",
    title="Find a patient",
    description="""
Find the caller's patient record by phone number (any phone on file) or name, optionally narrowed by date of
birth. A full name is matched as the identity check matches it: first or preferred name then last name, middle
names allowed, multi-part last names ("Maria De La Cruz"), spelled-out names ("J O N Smith"); a record whose
first name is "Mary Ann" is found by "Mary Ann Jones" and "Mary Jones". Call this first, with the number or
name the caller gives; a date of birth alone is not a search. With no phone or name, it searches by the number
the call comes from (when the platform provides it). Returns
at most 5 matches with patientId, firstName and lastName only; with more, ask for the date of birth and search
again (a date of birth none of them has is a failed identity check: identity_mismatch). Then verify identity
with getPatientInfo (patientId, dateOfBirth and the full name) before sharing or changing anything.
""",
    hints=CHECKS_IDENTITY,
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
                code=Code.NAME_OR_PHONE_NEEDED,
            )
        return SearchPatientsResult(
            message="Please correct the arguments: give a phone number or a name.",
            outcome="invalid",
            code=Code.INVALID_ARGUMENTS,
        )
    patients = await found(call, phone, args.name)
    if args.date_of_birth:
        patients = await narrowed_by_birthdate(call, patients, args.date_of_birth)
    if not patients:
        return SearchPatientsResult(
            message="I couldn't find a patient with those details.", outcome="not_found", code=Code.NO_MATCH
        )
    if len(patients) > MAX_MATCHES:
        return SearchPatientsResult(
            message="I found several patients; please ask for the date of birth to narrow it down.",
            outcome="needs_verification",
            code=Code.TOO_MANY_MATCHES,
        )
    call.entry.touched(*(p.patient_id for p in patients))
    noun = "patient" if len(patients) == 1 else "patients"
    source = " by the number you are calling from" if by_caller else ""
    return SearchPatientsResult(
        message=f"I found {len(patients)} matching {noun}{source}; verify the name and date of birth before "
        "sharing details.",
        outcome="ok",
        code=Code.PATIENTS_FOUND,
        matched_by="callerNumber" if by_caller else None,
        matches=[
            PatientMatch(patient_id=p.patient_id, first_name=p.first_name, last_name=p.last_name) for p in patients
        ],
    )


# --- getPatientInfo ---------------------------------------------------------------------------------


def upcoming(
    appointments: list[Appointment], metadata: PracticeMetadata, now: datetime, limit: int = 5
) -> list[UpcomingAppointment]:
    future = sorted(
        (a for a in appointments if not a.cancelled and a.start >= now),
        key=lambda a: a.start,
    )
    return [
        UpcomingAppointment(
            appointment_id=a.appointment_id,
            start_time=a.start.isoformat(),
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
    hints=CHECKS_IDENTITY,
    crud="R",
    phi_fields=("name", "preferredName", "phone", "email", "appointments", "lastVisit"),
    summary="identity check and patient details",
)
async def get_patient_info(call: ToolCall, args: VerifyArgs) -> PatientInfoResult:
    today = await call.today()
    booked = Beside(lambda: call.practice.upcoming_appointments(args.patient_id, today))
    practice = Beside(call.practice.metadata)
    patient = await verify(call, args, beside=(booked, practice))
    appointments, metadata = booked.result(), practice.result()
    info = PatientInfo(
        patient_id=patient.patient_id,
        first_name=patient.first_name,
        last_name=patient.last_name,
        preferred_name=patient.preferred_name or None,
        phone_last_digits=last_digits(next(iter(patient.phones.values()), "")) or None,
        email_masked=mask_email(patient.email),
        last_visit=patient.last_visit.isoformat() if patient.last_visit else None,
        upcoming_appointments=upcoming(appointments, metadata, call.now),
    )
    if info.upcoming_appointments:
        first = datetime.fromisoformat(info.upcoming_appointments[0].start_time)
        message = f"Verified. The next appointment is {spoken_day(first.date())} at {spoken_time(first)}."
    else:
        message = "Verified. There are no upcoming appointments."
    return PatientInfoResult(message=message, outcome="ok", code=Code.PATIENT_VERIFIED, patient=info)


# --- createPatient ----------------------------------------------------------------------------------


class Address(Args):
    line1: AddressLine | None = None
    city: PlaceName | None = None
    state: State | None = None
    postal_code: PostalCode | None = None

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
    first_name: FirstName
    last_name: LastName
    date_of_birth: DateOfBirth
    phone: Phone
    email: Email | None = None
    address: Address | None = None
    consents: Consents | None = Field(None, description="Contact consents the caller gave on this call.")


async def on_file(call: ToolCall, args: CreatePatientArgs) -> list[Patient]:
    """Patients with this phone or this first and last name, whatever their birthdate (the birthdate is never
    what decides the answer, so a registration cannot confirm one)."""
    by_name, by_phone = await both(
        call.practice.find_patients(first_name=args.first_name, last_name=args.last_name),
        call.practice.find_patients(phone=args.phone),
    )
    return list({p.patient_id: p for p in by_name + by_phone}.values())


def registration_answer(facts: dict[str, str], progress: Progress) -> CreatePatientResult:
    """The answer about a registration, from what its intent recorded and how far it got."""
    common = {"reference": progress.writeback_id, "office_system_offline": progress.office_offline or None}
    if progress.state == IntentState.CONFIRMED:
        return CreatePatientResult(
            message="The patient is now registered.",
            outcome="confirmed",
            code=Code.PATIENT_CREATED,
            patient_id=progress.created_id,
            **common,
        )
    if is_pending(progress):
        return CreatePatientResult(
            message=f"I've sent the registration; {waiting(progress)}.",
            outcome="pending",
            code=Code.REGISTRATION_PENDING,
            **common,
        )
    if progress.state == IntentState.NOT_SENT:
        return CreatePatientResult(
            message=NOT_SENT,
            outcome="unavailable",
            code=Code.WRITE_NOT_SENT,
        )
    return CreatePatientResult(
        message="The office system did not accept the registration; the staff will need to add this patient.",
        outcome="refused",
        code=Code.REGISTRATION_FAILED,
        **common,
    )


def replayed_registration(intent: Intent) -> CreatePatientResult:
    return registration_answer(intent.asked.facts, Progress.of(intent))


@tool(
    "createPatient",
    title="Register a new patient",
    description="""
Register a new patient after searchPatients found no record. Needs first and last name (as on an ID: letters,
spaces, hyphens, apostrophes, periods), date of birth and phone; email, address and contact consents are
optional. When anyone with this phone number or this name is already on file, nothing is created: the details
go to the office staff, who finish the registration (recorded_for_staff); that answer says nothing about who is
on file. Otherwise the practice system saves the new record asynchronously: the answer is either confirmed with
the new patientId or honestly pending.
""",
    hints=CREATES,
    crud="C",
    phi_fields=("name", "dateOfBirth", "phone", "email", "address", "consents"),
    summary="new patient registration",
    idempotent=True,
    replay=replayed_registration,
)
async def create_patient(call: ToolCall, args: CreatePatientArgs) -> CreatePatientResult:
    existing = await on_file(call, args)
    if existing:  # a duplicate, a relative or a guess alike: the same answer, and no record in the PMS
        return await _registration_for_staff(call, args, existing)
    lookup = await registration_lookup(call, args)
    pending = await call.services.intents.open_by_lookup(call.account_id, lookup)
    if pending is not None:
        return replayed_registration(pending)
    metadata = await call.practice.metadata()
    if not metadata.capabilities.new_patient:
        return await _registration_for_staff(call, args, [])
    try:
        write = writes.new_patient(
            metadata,
            first_name=args.first_name,
            last_name=args.last_name,
            birthdate=args.date_of_birth,
            phone=args.phone,
            email=args.email,
            address=args.address.to_sikka() if args.address else {},
        )
    except NeedsStaff:
        return await _registration_for_staff(call, args, [])
    name = f"{args.first_name} {args.last_name}"
    asked = Asked(
        tool=call.entry.action,
        request=f"register {name} as a new patient",
        who=name,
        callback_number=args.phone,
        lookup=lookup,
    )
    intent = await call.record(write, asked)
    outcome = await call.send(intent)
    if outcome.status == "confirmed" and outcome.created_id:
        call.entry.touched(outcome.created_id)
        consents = args.consents.given() if args.consents else {}
        await call.services.phi_store.add_consents(call.account_id, outcome.created_id, consents, call.vapi_call_id)
    return registration_answer(asked.facts, outcome.progress())


async def registration_lookup(call: ToolCall, args: CreatePatientArgs) -> str:
    """The blind index an open registration of this name and phone is found by (not the birthdate: a lookup by
    birthdate would answer whether one was right)."""
    parts = (args.first_name.lower(), args.last_name.lower(), args.phone)
    return await call.services.blind_index.digest(call.account_id, "new-patient", *parts)


async def _registration_for_staff(
    call: ToolCall, args: CreatePatientArgs, existing: list[Patient]
) -> CreatePatientResult:
    """Put the registration in the staff inbox, with the records already on file that share its phone or name
    (and which of them share its birthdate: staff see a likely duplicate; the caller hears the same either way)."""
    call.entry.targeted(*(p.patient_id for p in existing))  # compared with the registration, nothing disclosed
    details = {
        **args.model_dump(mode="json", by_alias=True),
        "onFileWithSamePhoneOrName": [p.patient_id for p in existing],
        "onFileWithSameBirthdate": [p.patient_id for p in existing if p.birthdate == args.date_of_birth],
    }
    reason = (
        "Someone with this phone or name is already on file, so nothing was created; please check and finish the "
        "registration."
        if existing
        else "This practice system cannot register patients through the integration; please register them."
    )
    note = StaffNote(
        reason=reason,
        caller_name=f"{args.first_name} {args.last_name}",
        callback_number=args.phone,
        request="register a new patient (see details)",
        details=details,
    )
    await call.services.inbox.post(call.account_id, InboxKind.NEW_PATIENT, note, vapi_call_id=call.vapi_call_id)
    return CreatePatientResult(
        message="I've passed the details to the office staff, who will finish the registration.",
        outcome="recorded_for_staff",
        code=Code.REGISTRATION_RECORDED_FOR_STAFF,
    )


# --- updatePatient ----------------------------------------------------------------------------------


class UpdatePatientArgs(VerifyArgs):
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None
    preferred_name: PreferredName | None = None
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


def update_answer(facts: dict[str, str], preferred: Progress | None) -> UpdatePatientResult:
    """Say exactly what happened: confirmed, still pending, or handed to staff."""
    state = preferred.state if preferred else None
    confirmed, pending = state == IntentState.CONFIRMED, preferred is not None and is_pending(preferred)
    common = {
        "reference": preferred.writeback_id if preferred else None,
        "office_system_offline": (preferred.office_offline or None) if preferred else None,
        "updated_fields": ["preferredName"] if confirmed else [],
    }
    if state == IntentState.NOT_SENT:
        return UpdatePatientResult(
            message=NOT_SENT,
            outcome="unavailable",
            code=Code.WRITE_NOT_SENT,
        )
    if facts.get("forStaff") or state == IntentState.FAILED:
        extra = " The preferred name is updated." if confirmed else ""
        extra += " The preferred name change is still being saved." if pending else ""
        return UpdatePatientResult(
            message=f"I've passed the change to the office staff, who will update the record.{extra}",
            outcome="recorded_for_staff",
            code=Code.RECORDED_FOR_STAFF,
            **common,
        )
    if pending and preferred is not None:
        return UpdatePatientResult(
            message=f"I've sent the change; {waiting(preferred)}.",
            outcome="pending",
            code=Code.UPDATE_PENDING,
            **common,
        )
    if confirmed:
        return UpdatePatientResult(
            message="I've updated the preferred name.", outcome="confirmed", code=Code.PATIENT_UPDATED, **common
        )
    return UpdatePatientResult(
        message="I've recorded the contact preferences.", outcome="confirmed", code=Code.CONSENTS_RECORDED
    )


def replayed_update(intent: Intent) -> UpdatePatientResult:
    return update_answer(intent.asked.facts, Progress.of(intent))


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
    replay=replayed_update,
)
async def update_patient(call: ToolCall, args: UpdatePatientArgs) -> UpdatePatientResult:
    patient = await verify(call, args)
    metadata = await call.practice.metadata()
    if args.consents:
        consents = args.consents.given()
        await call.services.phi_store.add_consents(call.account_id, patient.patient_id, consents, call.vapi_call_id)
    for_staff = args.staff_changes()
    write = None
    # Sikka's PATCH /patient exists only for OrthoTrac and Dolphin, and cannot change phones, email or address.
    if args.preferred_name and metadata.capabilities.patient_update:
        with contextlib.suppress(NeedsStaff):  # a name too long for the PMS: left for staff
            write = writes.preferred_name_change(metadata, patient.patient_id, args.preferred_name)
    if write is not None:
        for_staff.pop("preferredName")  # the write owns it: if it fails, staff get it from there
    if for_staff:
        note = StaffNote(
            reason="The caller asked to change contact details this practice system cannot take through the "
            "integration; please update the record.",
            caller_name=patient_name(patient),
            callback_number=callback_number(call, patient),
            patient_id=patient.patient_id,
            request="update contact details (see details)",
            details=for_staff,
        )
        await call.services.inbox.post(call.account_id, InboxKind.CONTACT_UPDATE, note, vapi_call_id=call.vapi_call_id)
    facts = {"forStaff": "yes" if for_staff else ""}
    if write is None:
        return update_answer(facts, None)
    asked = Asked(
        tool=call.entry.action,
        request="change the preferred name",
        who=patient_name(patient),
        callback_number=callback_number(call, patient),
        facts=facts,
        patient_id=patient.patient_id,
    )
    outcome = await call.send(await call.record(write, asked))
    return update_answer(facts, outcome.progress())
