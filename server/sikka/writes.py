"""Writebacks (`Write`: kind, method, endpoint, body) as Sikka documents them for the practice's PMS (reference
§13–§17), completed from the practice's own settings, or refused with `NeedsStaff` before anything is sent.

Fields a call cannot supply come from the practice: the appointment type from its `appttype` list (matched to
the caller's words), a staff member (`provider_type` Staff) or PMS user where the PMS requires one (the first
active one by id: Sikka requires a name and a phone call has none), a booking status from its own statuses.
Text goes out as a short phrase of letters, digits and spaces (Sikka: "no special characters").
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from server.intents import Write
from server.phones import is_nanp, national_digits, pms_format
from server.sikka.metadata import PracticeMetadata
from server.sikka.pms import NeedsStaff, WriteKind
from server.sikka.records import Choice, Operatory, Patient, Provider
from server.sikka.visit_types import match_visit

_NOT_PLAIN = re.compile(r"[^A-Za-z0-9 ]+")
DEFAULT_DESCRIPTION = "Appointment"

Body = dict[str, Any]


def plain_phrase(text: str, limit: int) -> str:
    """Letters, digits and single spaces, cut at a word boundary within `limit` characters."""
    phrase = " ".join(_NOT_PLAIN.sub(" ", text).split())
    if len(phrase) <= limit:
        return phrase
    cut = phrase[: limit + 1].rsplit(" ", 1)[0] if " " in phrase[: limit + 1] else phrase[:limit]
    return cut[:limit].rstrip()


def wall_time(metadata: PracticeMetadata, start: datetime) -> datetime:
    """An aware start as the practice-local wall time Sikka is sent (the only place the zone is dropped)."""
    if start.tzinfo is None:
        raise ValueError("a write's start must be an aware datetime")
    return start.astimezone(metadata.zone).replace(tzinfo=None)


def phone_for(metadata: PracticeMetadata, e164: str) -> str:
    """A phone as the PMS takes it: 10 digits where documented (ClearDent), else "408-555-0101"."""
    if not metadata.rules.ten_digit_phones:
        return pms_format(e164)
    if not is_nanp(e164):
        raise NeedsStaff("this practice system takes 10-digit phone numbers only")
    return national_digits(e164)


def _with_people(metadata: PracticeMetadata, kind: WriteKind, body: Body) -> Body:
    """Add the staff member and PMS user the PMS requires on this kind of write."""
    rules = metadata.rules
    if rules.needs_staff_member(kind):
        if not metadata.staff:
            raise NeedsStaff("this practice system needs a staff member on the write and the practice lists none")
        body["staff"] = metadata.staff[0].provider_id
    if rules.needs_user(kind):
        if not metadata.pms_users:
            raise NeedsStaff("this practice system needs a PMS user on the write and the practice lists none")
        body["user"] = metadata.pms_users[0]
    return body


def appointment_type(metadata: PracticeMetadata, visit: str | None) -> Choice | None:
    """The practice's type for the visit where its PMS uses types; refuses where one is required but none fits."""
    use = metadata.rules.appointment_type
    if use == "none":
        return None
    choice = match_visit(visit, metadata.appointment_types)
    if choice is None and use == "required":
        raise NeedsStaff("this practice system needs an appointment type and none matched the request")
    return choice


def booking(
    metadata: PracticeMetadata,
    *,
    patient: Patient,
    start: datetime,
    length_minutes: int,
    provider: Provider,
    operatory: Operatory,
    visit: str | None,
    note: str | None,
) -> Write:
    """`POST /appointment` (§13) at `start` (aware), sent as the practice-local wall time."""
    rules = metadata.rules
    start = wall_time(metadata, start)
    if rules.books_by_staff:
        raise NeedsStaff(rules.books_by_staff)
    body: Body = {
        "patient_id": patient.patient_id,
        "date": start.date().isoformat(),
        "time": start.strftime("%H:%M"),
        "length": str(length_minutes),
        "provider_id": provider.provider_id,
        "operatory": operatory.operatory,
        "practice_id": metadata.practice_id,
    }
    kind = appointment_type(metadata, visit)
    if kind is not None:
        body["type"] = kind.value
    if rules.description_limit is not None:
        words = " ".join(part for part in (kind.label if kind else visit, note) if part)
        body["description"] = plain_phrase(words, rules.description_limit) or DEFAULT_DESCRIPTION
    if rules.note_limit is not None and note:
        body["note"] = plain_phrase(note, rules.note_limit)
    if rules.booking_status:
        status = metadata.booking_status()
        if status is None:
            raise NeedsStaff("this practice system needs a booking status and the practice lists none")
        body["status"] = status.value
    if rules.guarantor_on_booking:
        if not patient.guarantor_id:
            raise NeedsStaff("this practice system needs the patient's guarantor on a booking")
        body["guarantor_id"] = patient.guarantor_id
    return Write("book_appointment", "POST", "appointment", _with_people(metadata, "book", body))


def move(
    metadata: PracticeMetadata,
    appointment_id: str,
    *,
    start: datetime,
    length_minutes: int,
    provider: Provider,
    operatory: Operatory,
) -> Write:
    """`PUT /appointments/{id}` (§14): date, time and operatory always (Dentrix G6 needs all three for a broken
    appointment), with an active provider; `start` (aware) is sent as the practice-local wall time."""
    start = wall_time(metadata, start)
    body = {
        "practice_id": metadata.practice_id,
        "provider_id": provider.provider_id,
        "date": start.date().isoformat(),
        "time": start.strftime("%H:%M"),
        "length": str(length_minutes),
        "operatory": operatory.operatory,
    }
    return Write("reschedule_appointment", "PUT", f"appointments/{appointment_id}", body, appointment_id)


def cancellation(metadata: PracticeMetadata, appointment_id: str) -> Write:
    """`PATCH /appointments/{id}` (§15) with the practice's own cancellation status (a practice_variables value)."""
    status = metadata.cancel_status()
    if status is None:
        raise NeedsStaff("the practice has no cancellation status this practice system can write")
    body: Body = {"op": "replace", "path": "/appointment_status", "value": status.value}
    body["practice_id"] = metadata.practice_id
    endpoint = f"appointments/{appointment_id}"
    return Write("appointment_status", "PATCH", endpoint, _with_people(metadata, "cancel", body), appointment_id)


def new_patient(
    metadata: PracticeMetadata,
    *,
    first_name: str,
    last_name: str,
    birthdate: date,
    phone: str,
    email: str | None,
    address: dict[str, str],
) -> Write:
    """`POST /patient` (§16), with the practice's first bookable provider."""
    rules = metadata.rules
    if rules.registers_by_staff:
        raise NeedsStaff(rules.registers_by_staff)
    if rules.name_limits and (len(first_name) > rules.name_limits[0] or len(last_name) > rules.name_limits[1]):
        raise NeedsStaff("the name is longer than this practice system accepts")
    if not metadata.bookable_providers:
        raise NeedsStaff("the practice lists no active provider for a new patient")
    body: Body = {
        "firstname": first_name,
        "lastname": last_name,
        "birthdate": birthdate.isoformat(),
        "cell": phone_for(metadata, phone),
        "provider_id": metadata.bookable_providers[0].provider_id,
        "practice_id": metadata.practice_id,
        **address,
    }
    if email:
        body["email"] = email
    return Write("create_patient", "POST", "patient", _with_people(metadata, "create_patient", body))


def preferred_name_change(metadata: PracticeMetadata, patient_id: str, preferred_name: str) -> Write:
    """`PATCH /patient/{id}` (§17): only OrthoTrac and Dolphin take it; length limits per PMS."""
    rules = metadata.rules
    if not rules.patient_update:
        raise NeedsStaff("this practice system does not take patient updates through Sikka")
    if len(preferred_name) > rules.preferred_name_limit:
        raise NeedsStaff("the preferred name is longer than this practice system accepts")
    body: Body = {"practice_id": metadata.practice_id, "preferred_name": preferred_name}
    body = _with_people(metadata, "update_patient", body)
    return Write("update_patient", "PATCH", f"patient/{patient_id}", body, patient_id)
