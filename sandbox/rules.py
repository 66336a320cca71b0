"""What each writeback must carry, per PMS, checked synchronously (§12-§17): Sikka "validates and queues".

- A missing required field: 400 API1020, at once.
- An invalid value, or a field the practice's PMS does not take: API2019 at once, with the catalogue's
  HTTP status for that code (422).
- Dentrix and a "broken" status (§15 note; how Sikka refuses is undocumented): HTTP 200 API0008
  "Appointment status not logged." and nothing queued: the least convenient reading, a failure that
  arrives as HTTP 200 (§5 says to check `error_code` for exactly this).
What passes is queued; what only the PMS can find (a double booking) fails later, asynchronously.

Readings of undocumented points, each the least convenient (§23 numbers where the reference lists them):
- Every value must be a JSON string: the examples quote every value and typed values are undocumented
  (§12). `"length": 30` is refused; send `"30"`.
- A field the docs give to other PMSs only is refused, not ignored (`note` outside Planet DDS, `staff`
  outside OrthoTrac, `type` on a PMS without appointment types, ...), except where the docs say the PMS
  ignores it: ClearDent appointments ignore every field outside their set, OrthoTrac patients ignore
  `other_phone` and the address (§13, §16). Other unknown keys (`check_spu`, insurance keys) are ignored.
- "No special characters" (§23.18) means letters, digits and spaces only.
- `practice_id` is the location's id as `/practices` lists it ("1"); the "1-1" shape of logged writes
  names no location and is refused (§23.2).
- Ids must belong to the location named by `practice_id`: another location's provider, chair or patient is
  an invalid value, and so is a hidden chair, an inactive provider, or an appointment not at that location.
- Codes are case-sensitive as documented: gender `male`/`female`/`unknown`, `true`/`false`, `op`
  `replace`; times `HH:mm` with two-digit hours; PATCH `path` only the logged example's
  "/appointment_status" (§23.12); status values only practice_variables "Appointment Status" values
  (§23.12: the docs name practice_variables as the source), never the `/appointment_statuses` texts.
- `length` is in minutes (§23.17). Phones are "valid" with 10 digits in the usual US forms, a workphone
  may end in `-ext` digits (§16); ClearDent phones are exactly 10 digits.
- PUT `/appointments` requires `provider_id` every time (§23.13), which also satisfies "at least one of
  date, time, length, operatory, provider_id, status".
- POST `/appointment` for ClearDent requires `status` and `user` (§23.14: the per-PMS set says so, the field
  text says Dolphin only). Planet DDS takes `patient_id` only with `is_new_patient` "false" and refuses it
  with "true". OrthoTrac's (provider_id, date, time, operatory) must be an appointments_available_slots row
  (its operatory is a get_all field).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sandbox.details import details
from sandbox.envelopes import SikkaError
from sandbox.formats import sikka_date
from sandbox.pms import CLEARDENT, CORNERSTONE, DENTRIX, DOLPHIN, EAGLESOFT, OPEN_DENTAL, ORTHOTRAC, PLANET_DDS
from sandbox.practice import Practice
from sandbox.roster import PROVIDER_TYPE, STAFF_TYPE
from sandbox.slots import available_slots


class Context(NamedTuple):
    """What a check may consult: the practice, its local date, the clock, and the path's id."""

    practice: Practice
    today: date
    now: datetime
    target: str


Validator = Callable[[Context, str], str]
"""Returns "" for a valid value, else why it is not."""
Check = Callable[[Context, Mapping[str, str]], None]
"""A check across fields; raises the SikkaError."""


@dataclass(frozen=True)
class Contract:
    """What one PMS's writeback of one kind requires and takes.

    `values` holds the check of every field the PMS takes (required ones included); a present field of
    `specific` (fields only some PMSs take) that `values` lacks is refused, or dropped when `ignores` says
    so: "all" for every field outside `values`, or a set of names.
    """

    required: tuple[str, ...]
    values: Mapping[str, Validator]
    checks: tuple[Check, ...] = ()
    ignores: frozenset[str] | str = frozenset()


def rejected(message: str) -> SikkaError:
    """API2019: a parameter has an invalid value."""
    return SikkaError("API2019", long_message=message)


def enforce(
    contract: Contract, specific: frozenset[str], context: Context, payload: Mapping[str, Any]
) -> dict[str, str]:
    """The payload as stripped strings, minus what the PMS ignores; raises Sikka's immediate error."""
    typed = sorted(name for name, value in payload.items() if value is not None and not isinstance(value, str))
    if typed:
        raise rejected(f"Values must be strings, as in the documented examples: {', '.join(typed)}.")
    values = {name: value.strip() for name, value in payload.items() if isinstance(value, str) and value.strip()}
    missing = [name for name in contract.required if name not in values]
    if missing:
        raise SikkaError("API1020", long_message=f"Missing parameter(s): {', '.join(missing)}.")
    if contract.ignores == "all":
        values = {name: value for name, value in values.items() if name in contract.values}
    else:
        values = {name: value for name, value in values.items() if name not in contract.ignores}
    refused = sorted(name for name in values.keys() & specific if name not in contract.values)
    if refused:
        raise rejected(f"Not accepted by {context.practice.pms} here: {', '.join(refused)}.")
    for name, validator in contract.values.items():
        reason = validator(context, values[name]) if name in values else ""
        if reason:
            raise rejected(f"{name} {reason}: {values[name]}")
    for check in contract.checks:
        check(context, values)
    return values


# Value checks

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_PLAIN = re.compile(r"[A-Za-z0-9 ]*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(\(\d{3}\) ?|\d{3}[-. ]?)\d{3}[-. ]?\d{4}")
_WORKPHONE = re.compile(_PHONE.pattern + r"(-\d{1,6})?")
_CODES = re.compile(r"[A-Za-z0-9]+(\|[A-Za-z0-9]+)*")


def anything(context: Context, value: str) -> str:
    return ""


def parse_date(value: str) -> date | None:
    """A `yyyy-MM-dd` date, or None."""
    try:
        return date.fromisoformat(value) if _DATE.fullmatch(value) else None
    except ValueError:
        return None


def a_date(context: Context, value: str) -> str:
    return "" if parse_date(value) else "must be a yyyy-MM-dd date"


def a_past_date(context: Context, value: str) -> str:
    day = parse_date(value)
    return "must be a yyyy-MM-dd date not in the future" if day is None or day > context.today else ""


def a_time(context: Context, value: str) -> str:
    return "" if _TIME.fullmatch(value) else "must be HH:mm"


def a_length(context: Context, value: str) -> str:
    return "" if value.isdigit() and int(value) > 0 else "must be a positive whole number of minutes"


def matching(pattern: re.Pattern[str], what: str) -> Validator:
    return lambda context, value: "" if pattern.fullmatch(value) else f"must be {what}"


def one_of(*options: str) -> Validator:
    return lambda context, value: "" if value in options else f"must be one of {', '.join(options)}"


def at_most(limit: int, inner: Validator = anything) -> Validator:
    return lambda context, value: f"must be at most {limit} characters" if len(value) > limit else inner(context, value)


def plain(limit: int | None = None) -> Validator:
    """Letters, digits and spaces only (§23.18), at most `limit` characters."""
    check = matching(_PLAIN, "letters, digits and spaces only")
    return check if limit is None else at_most(limit, check)


def item(writeback_type: str, category: str) -> Validator:
    """An `item` of the practice's writeback_details rows of that type and category."""

    def check(context: Context, value: str) -> str:
        found = any(
            (row.writeback_type, row.category, row.item) == (writeback_type, category, value)
            for row in details(context.practice.profile, context.practice.roster)
        )
        return "" if found else f"must be an item of writeback_details {writeback_type}/{category}"

    return check


def provider(provider_type: str | None = None, *, active: bool = True) -> Validator:
    """A provider of the location; active, and of `provider_type`, when asked."""

    def check(context: Context, value: str) -> str:
        row = context.practice.provider(value)
        if row is None:
            return "is not a provider of this practice"
        if active and row["status"] != "Active":
            return "is not an active provider"
        return "" if provider_type in (None, row["provider_type"]) else f"is not of provider_type {provider_type}"

    return check


def a_user_provider(context: Context, value: str) -> str:
    row = context.practice.provider(value)
    return "" if row is not None and row["is_user"] == "True" else "is not a provider with is_user True"


def a_pms_user(context: Context, value: str) -> str:
    active = {row["user_id"] for row in context.practice.users if row["status"] == "Active"}
    return "" if value in active else "is not an active pms_users user_id"


def a_chair(context: Context, value: str) -> str:
    row = context.practice.operatory(value)
    return "" if row is not None and row["is_hidden"] == "F" else "is not a visible operatory of this practice"


def a_patient(context: Context, value: str) -> str:
    return "" if value in context.practice.patients else "is not a patient of this practice"


def a_status(context: Context, value: str) -> str:
    found = context.practice.status_of(value) is not None
    return "" if found else 'must be a practice_variables "Appointment Status" value'


def the_appointment(context: Context, values: Mapping[str, str]) -> None:
    if context.target not in context.practice.appointments:
        raise rejected(f"appointment_sr_no {context.target} is not an appointment of this practice.")


def the_patient(context: Context, values: Mapping[str, str]) -> None:
    if context.target not in context.practice.patients:
        raise rejected(f"patient_id {context.target} is not a patient of this practice.")


SEXES = one_of("male", "female", "unknown")
PHONE = matching(_PHONE, "a 10-digit phone number")
TEN_DIGITS = matching(re.compile(r"\d{10}"), "exactly 10 digits")
TRUE_FALSE = one_of("true", "false")


# POST /appointment (§13)


def _planet_patient(context: Context, values: Mapping[str, str]) -> None:
    """Planet DDS: `patient_id` for existing patients (`is_new_patient` "false") only."""
    if values["is_new_patient"] == "false" and "patient_id" not in values:
        raise SikkaError("API1020", long_message="Missing parameter(s): patient_id.")
    if values["is_new_patient"] == "true" and "patient_id" in values:
        raise rejected('patient_id is only taken with is_new_patient "false".')


def _orthotrac_slot(context: Context, values: Mapping[str, str]) -> None:
    """OrthoTrac: (provider_id, date, time, operatory) must be an appointments_available_slots row."""
    slots = available_slots(context.practice, context.now, {"startdate": values["date"], "enddate": values["date"]})
    wanted = (
        values["provider_id"],
        sikka_date(date.fromisoformat(values["date"])),
        values["time"],
        values["operatory"],
    )
    if wanted not in {(row["provider_id"], row["date"], row["time"], row["operatory"]) for row in slots}:
        raise rejected("provider_id, date, time and operatory must be an appointments_available_slots row.")


APPOINTMENT_SPECIFIC = frozenset(
    "description type staff user status guarantor_id note procedure_codes is_new_patient has_insurance "
    "production_type firstname lastname birthdate email phone".split()
)
APPOINTMENT_BASE = ("patient_id", "date", "time", "length", "operatory", "provider_id", "practice_id")
APPOINTMENT_VALUES: dict[str, Validator] = {
    "patient_id": a_patient,
    "date": a_date,
    "time": a_time,
    "length": a_length,
    "operatory": a_chair,
    "provider_id": provider(),
    "practice_id": anything,
    "guarantor_id": a_patient,
}
APPTTYPE = item("new_appointment", "appttype")


@dataclass(frozen=True)
class Extras:
    """A PMS's additions to the base appointment contract."""

    required: tuple[str, ...] = ()
    values: Mapping[str, Validator] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    ignores: frozenset[str] | str = frozenset()
    drops: tuple[str, ...] = ()
    """Base fields the PMS does not take (or, re-added in `values`, does not require)."""


APPOINTMENT_EXTRAS = {
    DENTRIX: Extras(("description",), {"description": plain()}),
    EAGLESOFT: Extras(("description",), {"description": plain(), "type": APPTTYPE}),
    OPEN_DENTAL: Extras(
        ("description",),
        {"description": plain(), "type": APPTTYPE, "procedure_codes": matching(_CODES, "codes joined by |")},
    ),
    ORTHOTRAC: Extras(
        ("staff",),
        {"staff": provider(STAFF_TYPE), "description": plain(150), "type": APPTTYPE},
        checks=(_orthotrac_slot,),
    ),
    DOLPHIN: Extras(
        ("type", "user"),
        {"type": APPTTYPE, "user": a_user_provider, "status": a_status, "provider_id": provider(PROVIDER_TYPE)},
        drops=("guarantor_id",),
    ),
    CLEARDENT: Extras(
        ("status", "type", "user"),
        {"status": a_status, "type": APPTTYPE, "user": a_pms_user, "description": plain(3000)},
        ignores="all",
        drops=("guarantor_id",),
    ),
    PLANET_DDS: Extras(
        ("is_new_patient", "has_insurance", "production_type"),
        {
            "is_new_patient": TRUE_FALSE,
            "has_insurance": TRUE_FALSE,
            "production_type": item("new_appointment", "ApptProdType"),
            "patient_id": a_patient,
            "note": at_most(3950),
            "firstname": anything,
            "lastname": anything,
            "birthdate": a_past_date,
            "email": matching(_EMAIL, "a valid email address"),
            "phone": PHONE,
        },
        checks=(_planet_patient,),
        drops=("patient_id", "guarantor_id"),
    ),
    CORNERSTONE: Extras(("guarantor_id",), {"description": item("new_appointment", "apptdesc")}),
}


def new_appointment(pms: str) -> Contract:
    extras = APPOINTMENT_EXTRAS.get(pms, APPOINTMENT_EXTRAS[DENTRIX])
    base = {name: check for name, check in APPOINTMENT_VALUES.items() if name not in extras.drops}
    required = tuple(name for name in APPOINTMENT_BASE if name not in extras.drops)
    return Contract((*required, *extras.required), {**base, **extras.values}, extras.checks, extras.ignores)


# PUT /appointments/{appointment_sr_no} (§14)

RESCHEDULE_SPECIFIC = frozenset({"description", "schedule", "staff", "type"})
RESCHEDULE_VALUES: dict[str, Validator] = {
    "practice_id": anything,
    "provider_id": provider(),
    "date": a_date,
    "time": a_time,
    "length": a_length,
    "operatory": a_chair,
    "status": a_status,
}
DENTRIX_G6_VALUES: dict[str, Validator] = {
    "description": plain(60),
    "schedule": anything,
    "staff": provider(STAFF_TYPE),
    "type": anything,
}


def reschedule(practice: Practice) -> Contract:
    """Dentrix G6 alone also takes description (max 60), schedule, staff and type."""
    g6 = practice.profile.key == DENTRIX and practice.pms_version.startswith("G6")
    values = {**RESCHEDULE_VALUES, **(DENTRIX_G6_VALUES if g6 else {})}
    return Contract(("practice_id", "provider_id"), values, (the_appointment,))


# PATCH /appointments/{appointment_sr_no} (§15)

STATUS_SPECIFIC = frozenset({"staff", "status_changed_by", "cancellation_code_id", "cancellation_note"})
STATUS_VALUES: dict[str, Validator] = {
    "op": one_of("replace"),
    "path": one_of("/appointment_status"),
    "value": a_status,
    "practice_id": anything,
}


def _dentrix_broken(context: Context, values: Mapping[str, str]) -> None:
    status = context.practice.status_of(values["value"])
    if status is not None and "broken" in status.text.casefold():
        raise SikkaError("API0008", long_message="Dentrix does not take a broken status by writeback.")


STATUS_EXTRAS = {
    ORTHOTRAC: Extras(
        ("staff",), {"staff": provider(STAFF_TYPE), "status_changed_by": item("patch_appointment", "CancelBy")}
    ),
    DOLPHIN: Extras(values={"status_changed_by": item("patch_appointment", "ApptStatusChangedBy")}),
    DENTRIX: Extras(checks=(_dentrix_broken,)),
}


def status_change(pms: str) -> Contract:
    extras = STATUS_EXTRAS.get(pms, Extras())
    required = ("op", "path", "value", "practice_id", *extras.required)
    return Contract(required, {**STATUS_VALUES, **extras.values}, (the_appointment, *extras.checks))


# POST /patient (§16)

PATIENT_SPECIFIC = frozenset({"staff", "status", "type", "country", "is_guarantor_exist", "primary_relationship"})
PATIENT_VALUES: dict[str, Validator] = {
    "firstname": anything,
    "lastname": anything,
    "practice_id": anything,
    "provider_id": provider(active=False),
    "gender": SEXES,
    "email": matching(_EMAIL, "a valid email address"),
    "birthdate": a_past_date,
    "homephone": PHONE,
    "cell": PHONE,
    "other_phone": PHONE,
    "workphone": matching(_WORKPHONE, "a 10-digit phone number, optionally with -extension"),
    "guarantor_id": a_patient,
    "user": a_pms_user,
}
RELATIONSHIP = item("new_patient", "Relationship")
ADDRESS = frozenset({"address_line1", "address_line2", "city", "state", "zipcode"})


def _relationship_with_guarantor(context: Context, values: Mapping[str, str]) -> None:
    if "guarantor_id" in values and "primary_relationship" not in values:
        raise SikkaError("API1020", long_message="Missing parameter(s): primary_relationship (with guarantor_id).")


def _country_with_contact(context: Context, values: Mapping[str, str]) -> None:
    if values.keys() & {"email", "homephone", "workphone", "cell"} and "country" not in values:
        raise SikkaError("API1020", long_message="Missing parameter(s): country (with a phone or email).")


GENERIC_PATIENT = ("firstname", "lastname", "provider_id", "practice_id")
PATIENT_EXTRAS = {
    DOLPHIN: Extras(
        ("firstname", "lastname", "practice_id", "provider_id", "user"),
        {"provider_id": provider(PROVIDER_TYPE), "primary_relationship": RELATIONSHIP},
        checks=(_relationship_with_guarantor,),
    ),
    ORTHOTRAC: Extras(
        (*GENERIC_PATIENT, "gender", "staff", "status", "type", "primary_relationship"),
        {
            "firstname": at_most(15),
            "lastname": at_most(25),
            "gender": one_of("male", "female"),
            "provider_id": provider(PROVIDER_TYPE),
            "staff": provider(STAFF_TYPE),
            "status": item("new_patient", "Status"),
            "type": item("new_patient", "Type"),
            "primary_relationship": RELATIONSHIP,
            "country": item("new_patient", "Country"),
            "is_guarantor_exist": TRUE_FALSE,
        },
        checks=(_country_with_contact,),
        ignores=ADDRESS | {"other_phone"},
    ),
    CLEARDENT: Extras(
        ("firstname", "lastname", "practice_id"),
        {
            "firstname": at_most(15),
            "lastname": at_most(25),
            "provider_id": provider(),
            "gender": item("new_patient", "Sex"),
            **dict.fromkeys(("homephone", "workphone", "cell", "other_phone"), TEN_DIGITS),
        },
    ),
}


def new_patient(pms: str) -> Contract:
    extras = PATIENT_EXTRAS.get(pms, Extras(GENERIC_PATIENT))
    return Contract(extras.required, {**PATIENT_VALUES, **extras.values}, extras.checks, extras.ignores)


# PATCH /patient/{patient_id} (§17; OrthoTrac and Dolphin only)

LOCKED = frozenset({"email", "workphone", "homephone", "cell", "other_phone"}) | ADDRESS
PATIENT_UPDATE_SPECIFIC = LOCKED | frozenset(
    "middlename formal informal ssn model type race staff language mail_method gender_identifier school "
    "recall_date".split()
)
UPDATE_VALUES: dict[str, Validator] = {
    "practice_id": anything,
    "firstname": anything,
    "lastname": anything,
    "preferred_name": anything,
    "birthdate": a_past_date,
    "salutation": item("update_patient", "Salutation"),
    "status": item("update_patient", "Status"),
    "provider_id": provider(PROVIDER_TYPE),
}
UPDATE_EXTRAS = {
    ORTHOTRAC: Extras(
        ("staff",),
        {
            "firstname": at_most(15),
            "lastname": at_most(20),
            "preferred_name": at_most(20),
            "middlename": at_most(15),
            "formal": at_most(50),
            "informal": at_most(50),
            "ssn": at_most(20),
            "model": at_most(10),
            "gender": one_of("male", "female"),
            "type": item("update_patient", "Type"),
            "race": item("update_patient", "Race"),
            "staff": provider(STAFF_TYPE),
        },
    ),
    DOLPHIN: Extras(
        values={
            "preferred_name": at_most(50),
            "gender": item("update_patient", "Gender"),
            "language": item("update_patient", "Language"),
            "mail_method": item("update_patient", "Mail_method"),
            "gender_identifier": item("update_patient", "Gender_identifier"),
            "school": item("update_patient", "School"),
            "recall_date": a_date,
        }
    ),
}


def _something_to_update(context: Context, values: Mapping[str, str]) -> None:
    if not values.keys() - {"practice_id", "staff", "patient_id"}:
        raise SikkaError("API1020", long_message="Provide at least one field to update.")


def patient_update(pms: str) -> Contract:
    extras = UPDATE_EXTRAS[pms]
    required = ("practice_id", *extras.required)
    return Contract(required, {**UPDATE_VALUES, **extras.values}, (the_patient, _something_to_update))
