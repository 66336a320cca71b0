"""Deterministic practice data: the demo "Happy Dental Clinic" and generated practices for other tenants.

Everything derives from a seed and the practice-local date of the clock at creation, so two sandboxes with
the same seed and clock hold identical records.

Schedule semantics (inferred; Sikka documents the `practice_schedule` columns, not their meaning):

- A row belongs to one resource: `resource_type` "practice" (`resource_id` = practice_id), "provider"
  (`resource_id` = provider_id) or "operatory" (`resource_id` = operatory).
- Weekly template rows have `date` "". `<day>_start_n`/`<day>_end_n` (n = 1..3, "08:00") are the day's open
  spans, "" when unused; the gap between span 1 and span 2 is lunch. A day without spans is closed.
- A dated row (`date` "YYYY-MM-DDT00:00:00") applies to that date only and replaces the resource's weekly row
  for it; only the columns of that date's weekday matter. `<day>_holiday` "True" closes the resource that
  day, so a dated practice row with the holiday flag closes the whole practice.
- A provider's or operatory's hours are its own rows intersected with the practice's; a resource without
  rows follows the practice.

Appointment statuses are Dentrix-like: Scheduled, Confirmed, Arrived, Complete, Broken, Canceled; Broken and
Canceled appointments are `cancelled` "True" and free their time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sandbox import fields
from sandbox.envelopes import Record
from sandbox.practice import Ids, Practice, is_cancel_status, sikka_date
from sandbox.schedule import DAYS, SLOTS, Interval, day_name, open_hours, to_hhmm

DEMO_OFFICE_ID = "D36000"
DEMO_PRACTICE_ID = "1"
DEMO_SECRET_KEY = "7c4a8d09ca3762af61e59520943dc264"
DEMO_PRACTICE_NAME = "Happy Dental Clinic"

STATUSES = ("Scheduled", "Confirmed", "Arrived", "Complete", "Broken", "Canceled")
PAST_DAYS = 60
FUTURE_DAYS = 30

MORNING: Interval = (8 * 60, 12 * 60)
AFTERNOON: Interval = (13 * 60, 17 * 60)
FULL_DAY = (MORNING, AFTERNOON)
SATURDAY = ((9 * 60, 13 * 60),)
WEEKDAYS = DAYS[1:6]

Week = Mapping[str, Sequence[Interval]]
PRACTICE_WEEK: Week = {**dict.fromkeys(WEEKDAYS, FULL_DAY), "saturday": SATURDAY}


class Visit(NamedTuple):
    """An appointment type: what `writeback_details?category=appttype` lists."""

    value: str
    description: str
    length: int


DENTIST_VISITS = (
    Visit("Exam", "Periodic exam", 30),
    Visit("New Patient Exam", "Comprehensive exam and x-rays", 60),
    Visit("Filling", "Composite restoration", 60),
    Visit("Crown", "Crown preparation", 90),
    Visit("Root Canal", "Endodontic therapy", 90),
    Visit("Extraction", "Simple extraction", 30),
    Visit("Emergency", "Limited exam, pain", 30),
)
HYGIENE_VISITS = (
    Visit("Cleaning", "Adult prophylaxis", 60),
    Visit("Periodontal Maintenance", "Perio maintenance", 60),
)


@dataclass(frozen=True)
class Staff:
    """A provider of the generated practices, with the hours and chairs they work."""

    provider_id: str
    firstname: str
    lastname: str
    specialty: str
    specialty_code: str
    status: str
    week: Week
    operatories: tuple[str, ...]
    visits: tuple[Visit, ...]


OPERATORIES = ("OP1", "OP2", "OP3", "OP4")
DENTIST = {"specialty": "General Dentist", "specialty_code": "1223G0001X"}
STAFF = (
    Staff(
        provider_id="DDS1",
        firstname="Sarah",
        lastname="Chen",
        **DENTIST,
        status="Active",
        week=dict.fromkeys(WEEKDAYS, FULL_DAY),
        operatories=("OP1", "OP2"),
        visits=DENTIST_VISITS,
    ),
    Staff(
        provider_id="DDS2",
        firstname="Michael",
        lastname="Patel",
        **DENTIST,
        status="Active",
        week={**dict.fromkeys(WEEKDAYS[1:], FULL_DAY), "saturday": SATURDAY},  # not on Mondays
        operatories=("OP2", "OP1"),
        visits=DENTIST_VISITS,
    ),
    Staff(
        provider_id="HYG1",
        firstname="Maria",
        lastname="Lopez",
        specialty="Hygienist",
        specialty_code="124Q00000X",
        status="Active",
        week={**dict.fromkeys(WEEKDAYS[:4], FULL_DAY), "friday": (MORNING, (13 * 60, 14 * 60))},
        operatories=("OP3", "OP4"),
        visits=HYGIENE_VISITS,
    ),
    Staff(
        provider_id="DDS0",
        firstname="Robert",
        lastname="Hughes",
        **DENTIST,
        status="Inactive",
        week={},
        operatories=(),
        visits=(),
    ),
)
WORKING = tuple(staff for staff in STAFF if staff.status == "Active")

FEMALE = """
    Emma Olivia Ava Sophia Isabella Mia Charlotte Amelia Harper Evelyn Abigail Emily Elizabeth Sofia Madison
    Avery Ella Scarlett Grace Chloe Victoria Riley Aria Lily Zoey Hannah Layla Nora Priya Mei Aisha Fatima
    Jennifer Patricia Linda Barbara Susan Jessica Sarah Karen Nancy Margaret Sandra Ashley Kimberly Donna
    Michelle Dorothy Carol Rebecca Katherine Samantha Deborah Christine Ana Lucia Yuki Keisha Rosa Carmen
""".split()
MALE = """
    James Robert John Michael David William Richard Joseph Thomas Charles Christopher Daniel Matthew Anthony
    Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason Jeffrey Ryan
    Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander
    Patrick Frank Raymond Jack Dennis Jerry Tyler Aaron Jose Luis Carlos Wei Raj Omar Hiroshi Malik
""".split()
LASTNAMES = """
    Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson
    Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis
    Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall
    Rivera Campbell Mitchell Carter Roberts Kim Park Shah Singh Cohen Murphy O'Brien Rossi Kowalski Goldberg
    Wang Khan Ali Sullivan Bennett Reyes Cruz Ortiz Morgan Novak
""".split()
NICKNAMES = {
    "Robert": "Bob", "William": "Bill", "Elizabeth": "Liz", "Katherine": "Kate", "Michael": "Mike",
    "James": "Jim", "Richard": "Rick", "Joseph": "Joe", "Thomas": "Tom", "Christopher": "Chris",
    "Daniel": "Dan", "Matthew": "Matt", "Anthony": "Tony", "Steven": "Steve", "Andrew": "Andy",
    "Margaret": "Peggy", "Patricia": "Pat", "Jennifer": "Jen", "Rebecca": "Becky", "Samantha": "Sam",
    "Alexander": "Alex", "Benjamin": "Ben", "Nicholas": "Nick", "Timothy": "Tim", "Abigail": "Abby",
    "Victoria": "Tori", "Isabella": "Bella", "Gregory": "Greg", "Kenneth": "Ken", "Dorothy": "Dot",
}  # fmt: skip
STREETS = (
    "Main St", "Park Ave", "Broadway", "Elm St", "Oak St", "Maple Ave", "Cedar Ln", "Washington Ave",
    "Lexington Ave", "Bedford Ave", "Atlantic Ave", "Court St", "Union St", "Prospect Pl", "Riverside Dr",
    "Amsterdam Ave", "Columbus Ave", "Ocean Pkwy",
)  # fmt: skip


class Locale(NamedTuple):
    """Where a generated practice's patients live."""

    area_codes: tuple[str, ...]
    cities: tuple[tuple[str, str], ...]


LOCALES = {
    "NY": Locale(
        ("646", "212", "917", "718", "347"),
        (("New York", "10016"), ("New York", "10025"), ("Brooklyn", "11215"), ("Brooklyn", "11201"),
         ("Astoria", "11102"), ("Forest Hills", "11375"), ("Bronx", "10463"), ("Staten Island", "10301")),
    ),
    "CA": Locale(
        ("408", "669", "650"),
        (("San Jose", "95116"), ("Santa Clara", "95050"), ("Sunnyvale", "94086"), ("Campbell", "95008")),
    ),
}  # fmt: skip
PMS_VERSIONS = {
    "dentrix": "G7.4",
    "eaglesoft": "21.20",
    "open dental": "23.3",
    "orthotrac": "12.1",
    "dolphin": "11.9",
}


def holiday_for(today: date) -> date:
    """The practice's one holiday: the first Thursday at least 10 days after `today`."""
    return next(day for n in range(10, 17) if (day := today + timedelta(days=n)).weekday() == 3)


def generate_practice(
    *,
    office_id: str,
    practice_id: str,
    secret_key: str,
    name: str,
    pms: str,
    time_zone: str,
    state: str,
    listed: bool,
    patients: int,
    seed: int,
    now: datetime,
    ids: Ids,
) -> Practice:
    """A practice with staff, chairs, hours, one holiday, `patients` patients and 90 days of appointments."""
    rng = random.Random(seed)
    locale = LOCALES.get(state, LOCALES["NY"])
    city, zipcode = locale.cities[0]
    practice = Practice(
        office_id=office_id,
        practice_id=practice_id,
        secret_key=secret_key,
        name=name,
        pms=pms,
        pms_version=PMS_VERSIONS.get(pms.casefold(), "1.0"),
        time_zone=time_zone,
        state=state,
        city=city,
        address=f"{rng.randint(10, 999)} {rng.choice(STREETS)}",
        zipcode=zipcode,
        cust_id=str(rng.randint(10000, 99999)),
        listed=listed,
        authorized_at=now,
        statuses=STATUSES,
    )
    today = practice.local(now).date()
    practice.providers = [_provider(practice, staff) for staff in STAFF]
    practice.operatories = [_operatory(practice, operatory) for operatory in OPERATORIES]
    practice.schedule = _schedule(practice, holiday_for(today))
    practice.appointment_types = _appointment_types(practice)
    for values in _patients(rng, practice, patients, today, locale):
        patient_id = str(next(ids.patient))
        practice.patients[patient_id] = practice.make_patient(patient_id, values)
    for values in _appointments(rng, practice, today):
        sr_no = str(next(ids.appointment))
        practice.appointments[sr_no] = practice.make_appointment(sr_no, values)
    _set_last_visits(practice)
    return practice


def _provider(practice: Practice, staff: Staff) -> Record:
    record = dict.fromkeys(fields.PROVIDERS.keys, "")
    record.update(
        href=practice.href(f"/providers/{staff.provider_id}"),
        provider_id=staff.provider_id,
        firstname=staff.firstname,
        lastname=staff.lastname,
        address_line1=practice.address,
        city=practice.city,
        state=practice.state,
        zipcode=practice.zipcode,
        country="USA",
        provider_type="Provider",
        specialty=staff.specialty,
        speciality=staff.specialty,
        specialty_code=staff.specialty_code,
        practice_id=practice.practice_id,
        practice_href=practice.href(),
        patient_href=practice.href(f"/patients?provider_id={staff.provider_id}"),
        appointment_href=practice.href(f"/appointments?provider_id={staff.provider_id}"),
        status=staff.status,
        initials=staff.firstname[0] + staff.lastname[0],
        email=f"{staff.firstname[0]}{staff.lastname}@{practice.office_id}.example.com".lower(),
        is_hidden="False",
        is_organization="False",
        is_user="False",
        cust_id=practice.cust_id,
    )
    return record


def _operatory(practice: Practice, operatory: str) -> Record:
    return {
        "provider_id": "",
        "practice_id": practice.practice_id,
        "operatory": operatory,
        "cust_id": practice.cust_id,
        "is_hidden": "F",
        "abbreviation": f"OP-{operatory[2:]}",
    }


def _schedule(practice: Practice, holiday: date) -> list[Record]:
    resources: list[tuple[str, str, Week]] = [
        ("practice", practice.practice_id, PRACTICE_WEEK),
        *(("provider", staff.provider_id, staff.week) for staff in WORKING),
        *(("operatory", operatory, PRACTICE_WEEK) for operatory in OPERATORIES),
    ]
    closed = _schedule_row(practice, "practice", practice.practice_id, {}, on=holiday)
    closed[f"{day_name(holiday)}_holiday"] = "True"
    return [*(_schedule_row(practice, *resource) for resource in resources), closed]


def _schedule_row(
    practice: Practice, resource_type: str, resource_id: str, week: Week, *, on: date | None = None
) -> Record:
    row = dict.fromkeys(fields.PRACTICE_SCHEDULE.keys, "")
    row.update(
        href=practice.href(f"/practice_schedule/{resource_type}-{resource_id}"),
        practice_id=practice.practice_id,
        practice_href=practice.href(),
        date=sikka_date(on) if on else "",
        cust_id=practice.cust_id,
        resource_type=resource_type,
        resource_id=resource_id,
    )
    for day in DAYS:
        row[f"{day}_holiday"] = "False"
        for n, (start, end) in zip(SLOTS, week.get(day, ()), strict=False):
            row[f"{day}_start_{n}"] = to_hhmm(start)
            row[f"{day}_end_{n}"] = to_hhmm(end)
    return row


def _appointment_types(practice: Practice) -> list[Record]:
    return [
        {
            "href": practice.href(f"/writeback_details/appttype/{number}"),
            "practice_id": practice.practice_id,
            "writeback_type": "new_appointment",
            "category": "appttype",
            "id": str(number),
            "value": visit.value,
            "description": visit.description,
            "length": str(visit.length),
        }
        for number, visit in enumerate(DENTIST_VISITS + HYGIENE_VISITS, start=1)
    ]


def _patients(rng: random.Random, practice: Practice, count: int, today: date, locale: Locale) -> list[Record]:
    phones = iter(_phone_numbers(rng, locale.area_codes, 3 * count))
    emails: set[str] = set()
    patients = []
    for _ in range(count):
        female = rng.random() < 0.52
        first, last = rng.choice(FEMALE if female else MALE), rng.choice(LASTNAMES)
        birth = _random_day(rng, date(1940, 1, 1), date(2020, 12, 31))
        latest = today - timedelta(days=120)
        created = _random_day(rng, min(max(birth, date(2012, 1, 1)), latest), latest)
        city, zipcode = rng.choice(locale.cities)
        email = f"{first}.{last}".lower().replace("'", "")
        email = email if email not in emails else f"{email}{len(emails)}"
        emails.add(email)
        has_cell = rng.random() < 0.96
        patients.append(
            {
                "firstname": first,
                "middlename": rng.choice("ABCDEFGHJKLMNPRSTW") if rng.random() < 0.15 else "",
                "lastname": last,
                "preferred_name": NICKNAMES.get(first, "") if rng.random() < 0.5 else "",
                "gender": "Female" if female else "Male",
                "birthdate": sikka_date(birth),
                "status": "Inactive" if rng.random() < 0.1 else "Active",
                "address_line1": f"{rng.randint(1, 999)} {rng.choice(STREETS)}",
                "address_line2": f"Apt {rng.randint(1, 20)}{rng.choice('ABCD')}" if rng.random() < 0.3 else "",
                "city": city,
                "state": practice.state,
                "zipcode": zipcode,
                "cell": next(phones) if has_cell else "",
                "homephone": next(phones) if not has_cell or rng.random() < 0.25 else "",
                "workphone": next(phones) if rng.random() < 0.12 else "",
                "email": f"{email}@{rng.choice(('example.com', 'example.net', 'example.org'))}"
                if rng.random() < 0.85
                else "",
                "provider_id": rng.choice(("DDS1", "DDS2")),
                "hygienist": "HYG1",
                "created_date": sikka_date(created),
                "first_visit": sikka_date(created),
                "preferred_contact": rng.choice(("Cell", "Email", "Text", "")),
            }
        )
    return patients


def _phone_numbers(rng: random.Random, area_codes: Sequence[str], count: int) -> list[str]:
    """`count` distinct fictional numbers, `646-555-0123` style (555-01xx first)."""
    areas = len(area_codes)
    picks = rng.sample(range(max(count, 100 * areas)), count)
    return [f"{area_codes[i % areas]}-555-{100 + i // areas:04d}" for i in picks]


def _random_day(rng: random.Random, first: date, last: date) -> date:
    return date.fromordinal(rng.randint(first.toordinal(), last.toordinal()))


def _appointments(rng: random.Random, practice: Practice, today: date) -> list[Record]:
    """Non-overlapping bookings within hours, from PAST_DAYS ago to FUTURE_DAYS ahead, by date and time."""
    everyone = list(practice.patients)
    active = [pid for pid, patient in practice.patients.items() if patient["status"] == "Active"]
    bookings: list[Record] = []
    for offset in range(-PAST_DAYS, FUTURE_DAYS):
        day = today + timedelta(days=offset)
        chairs: dict[str, list[Interval]] = {operatory: [] for operatory in OPERATORIES}
        for staff in WORKING:
            density = 0.45 if offset < 0 else rng.choice((0.2, 0.3, 0.45, 0.6, 0.95))
            for start, end in open_hours(practice.schedule, day, provider_id=staff.provider_id):
                cursor = start
                while cursor < end:
                    visit = rng.choice(staff.visits)
                    finish = cursor + visit.length
                    chair = _free_chair(chairs, staff, cursor, finish)
                    if finish > end or chair is None or rng.random() >= density:
                        cursor += 30
                        continue
                    status = _status(rng, offset)
                    made = min(day, today) - timedelta(days=rng.randint(1, 60))
                    bookings.append(
                        {
                            "patient_id": rng.choice(everyone if offset < 0 else active),
                            "provider_id": staff.provider_id,
                            "operatory": chair,
                            "date": sikka_date(day),
                            "time": to_hhmm(cursor),
                            "length": str(visit.length),
                            "type": visit.value,
                            "description": visit.description,
                            "status": status,
                            "note": rng.choice(("", "", "", "Prefers morning reminders", "Anxious patient")),
                            "appointment_made_date": sikka_date(made),
                            "last_changed_date": sikka_date(made),
                            "cancelled_date": sikka_date(made) if is_cancel_status(status) else "",
                        }
                    )
                    if not is_cancel_status(status):
                        chairs[chair].append((cursor, finish))
                    cursor = finish
    return sorted(bookings, key=lambda booking: (booking["date"], booking["time"], booking["provider_id"]))


def _free_chair(chairs: Mapping[str, Sequence[Interval]], staff: Staff, start: int, end: int) -> str | None:
    """The first of the provider's chairs (then any other) free during [start, end)."""
    order = staff.operatories + tuple(chair for chair in OPERATORIES if chair not in staff.operatories)
    return next((chair for chair in order if all(e <= start or end <= s for s, e in chairs[chair])), None)


def _status(rng: random.Random, offset: int) -> str:
    roll = rng.random()
    if offset < 0:
        return "Broken" if roll < 0.05 else "Canceled" if roll < 0.09 else "Complete"
    return "Canceled" if roll < 0.04 else "Confirmed" if roll < 0.4 else "Scheduled"


def _set_last_visits(practice: Practice) -> None:
    for appointment in practice.appointments.values():
        patient = practice.patients[appointment["patient_id"]]
        if appointment["status"] == "Complete":
            patient["last_visit"] = max(patient["last_visit"], appointment["date"])
    for patient in practice.patients.values():
        patient["last_visit"] = patient["last_visit"] or patient["first_visit"]
