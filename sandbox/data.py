"""Deterministic practice data: the demo office "Happy Dental Clinic" and generated practices for others.

Everything derives from a seed and the practice-local date of the clock at creation, so two sandboxes with
the same seed and clock hold identical records.

- The demo office (DEMO_OFFICE_ID) has two listed locations: practice "1" (Happy Dental Clinic, Manhattan)
  and practice "2" (Happy Dental Clinic Brooklyn, DEMO_SECOND_PRACTICE_ID), each with its own cust_id,
  providers, chairs, hours, patients and bookings (sandbox.roster). `authorized_practices` lists the
  second one only with `show=all` (§8).
- Every location has a Staff provider (provider_type "Staff", is_user "True": the person Dolphin's `user`
  and OrthoTrac's `staff` name), a hidden chair (`is_hidden` "T") that must never be booked,
  `/pms_users` (one inactive), carriers and coverage (sandbox.billing); the first location also an
  inactive provider (DDS0).
- Schedules are week rows (sandbox.schedule): weeks differ (a provider works an extra day, takes a day
  off or starts an hour late in some weeks) and one week holds a holiday, the first Thursday at least ten
  days after creation. Bookings run from the first schedule week to FUTURE_DAYS ahead, within hours.
- Patients' phones come in mixed formats, as PMS data does: about 70% "646-555-0123" (the documented
  example), 20% "(646) 555-0123" and 10% "6465550123". A few families share the guarantor's cell phone,
  address and insurance; their dependents' `guarantor_id` is the guarantor's patient_id.

Appointment statuses are Dentrix-like (sandbox.practice.STATUSES): Broken and Canceled appointments are
`cancelled` "True" and free their time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sandbox import billing, fields
from sandbox.envelopes import Record
from sandbox.formats import sikka_date, to_hhmm
from sandbox.pms import EAGLESOFT, pms_named
from sandbox.practice import Ids, Practice, is_cancel_status
from sandbox.roster import HYGIENIST, Person, Roster, Visit, roster
from sandbox.schedule import (
    DAYS,
    OPERATORY,
    PRACTICE,
    PROVIDER,
    Interval,
    Week,
    day_name,
    open_hours,
    week_row,
    week_starts,
)

DEMO_OFFICE_ID = "D36000"
DEMO_PRACTICE_ID = "1"
DEMO_SECOND_PRACTICE_ID = "2"
DEMO_SECRET_KEY = "7c4a8d09ca3762af61e59520943dc264"
DEMO_PRACTICE_NAME = "Happy Dental Clinic"
DEMO_SECOND_PRACTICE_NAME = "Happy Dental Clinic Brooklyn"

FUTURE_DAYS = 30
HOLIDAY_NAME = "Founders Day"
FAMILY_SHARE = 40
"""One family (a guarantor and two or three dependents sharing a phone) per this many patients."""

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
    location: int = 0,
) -> Practice:
    """An office's location number `location` (0 = the first) with generated staff, hours and patients."""
    rng = random.Random(seed)
    locale = LOCALES.get(state, LOCALES["NY"])
    city, zipcode = locale.cities[2 * location % len(locale.cities)]
    slug = "".join(char for char in name.casefold() if char.isalnum())
    practice = Practice(
        office_id=office_id,
        practice_id=practice_id,
        secret_key=secret_key,
        name=name,
        pms=pms,
        pms_version=pms_named(pms).version,
        time_zone=time_zone,
        state=state,
        city=city,
        address=f"{rng.randint(10, 999)} {rng.choice(STREETS)}",
        zipcode=zipcode,
        cust_id=str(next(ids.customer)),
        listed=listed,
        authorized_at=now,
        phone=f"{locale.area_codes[0]}555{rng.randint(1000, 1999)}",
        email=f"frontdesk@{slug}.example.com",
        website=f"https://www.{slug}.example.com",
        npi=str(rng.randint(1_000_000_000, 1_999_999_999)),
        main_office=location == 0,
        roster=roster(location),
    )
    today = practice.local(now).date()
    practice.providers = [_provider(practice, person) for person in practice.roster.people]
    practice.users = _users(practice, location)
    practice.operatories = _operatories(practice)
    practice.schedule = _schedule(rng, practice, today)
    practice.insurance_companies = billing.insurance_companies(rng, practice.place, next(ids.insurance_company))
    practice.coverage = billing.coverage(rng, practice.place, practice.insurance_companies)
    patient_ids = [str(next(ids.patient)) for _ in range(patients)]
    practice.patients = _patients(rng, practice, patient_ids, today, locale)
    for values in _appointments(rng, practice, today):
        sr_no = str(next(ids.appointment))
        practice.appointments[sr_no] = practice.make_appointment(sr_no, values)
    _set_last_visits(practice)
    practice.debts = billing.debts(rng, list(practice.patients.values()))
    return practice


def _provider(practice: Practice, person: Person) -> Record:
    record = dict.fromkeys(fields.PROVIDERS.keys, "")
    record.update(
        href=practice.href(f"/providers/{person.provider_id}"),
        provider_id=person.provider_id,
        firstname=person.firstname,
        lastname=person.lastname,
        address_line1=practice.address,
        city=practice.city,
        state=practice.state,
        zipcode=practice.zipcode,
        country="USA",
        provider_type=person.provider_type,
        specialty=person.specialty,
        speciality=person.specialty,
        specialty_code=person.specialty_code,
        practice_id=practice.practice_id,
        practice_href=practice.href(),
        patient_href=practice.href(f"/patients?provider_id={person.provider_id}"),
        appointment_href=practice.href(f"/appointments?provider_id={person.provider_id}"),
        status=person.status,
        initials=person.firstname[0] + person.lastname[0],
        email=f"{person.firstname[0]}{person.lastname}@{practice.office_id}.example.com".lower(),
        is_hidden="False",
        is_organization="False",
        is_user=str(not person.books and person.status == "Active"),
        cust_id=practice.cust_id,
    )
    return record


USERS = (("Karen", "Walsh", "Active"), ("Diego", "Santos", "Active"), ("Amy", "Fischer", "Inactive"))


def _users(practice: Practice, location: int) -> list[Record]:
    """The PMS's login users (`/pms_users`)."""
    rows = []
    for n, (first, last, status) in enumerate(USERS, start=1):
        row = dict.fromkeys(fields.PMS_USERS.keys, "")
        user_id = f"{location + 1}0{n}"
        row.update(
            href=practice.href(f"/pms_users/{user_id}"),
            user_id=user_id,
            firstname=first,
            lastname=last,
            address_line1=practice.address,
            city=practice.city,
            state=practice.state,
            zipcode=practice.zipcode,
            country="USA",
            specialty="Front Desk",
            status=status,
            email=f"{first}.{last}@{practice.office_id}.example.com".lower(),
            practice_id=practice.practice_id,
            practice_href=practice.href(),
            cust_id=practice.cust_id,
        )
        rows.append(row)
    return rows


def _operatories(practice: Practice) -> list[Record]:
    """The chairs, then the hidden one; `provider_id` is only filled for Eaglesoft (§9), `|`-joined."""
    people = practice.roster.bookable if practice.profile.key == EAGLESOFT else ()
    chairs = [(chair, "F") for chair in practice.roster.chairs] + [(practice.roster.hidden_chair, "T")]
    return [
        {
            "provider_id": "|".join(person.provider_id for person in people if chair in person.operatories),
            "practice_id": f"{practice.practice_id}-0",
            "operatory": chair,
            "cust_id": practice.cust_id,
            "is_hidden": hidden,
            "abbreviation": f"OP-{n}",
        }
        for n, (chair, hidden) in enumerate(chairs, start=1)
    ]


def _schedule(rng: random.Random, practice: Practice, today: date) -> list[Record]:
    """Week rows for the practice, each booked provider and each visible chair."""
    starts = week_starts(today)
    holiday = holiday_for(today)
    layout = practice.roster
    resources: list[tuple[str, str, list[Week]]] = [
        (PRACTICE, practice.practice_id, [layout.practice_week] * len(starts)),
        *((PROVIDER, p.provider_id, _varied(rng, p, layout, len(starts))) for p in layout.bookable),
        *((OPERATORY, chair, [layout.practice_week] * len(starts)) for chair in layout.chairs),
    ]
    rows = []
    for resource_type, resource_id, weeks in resources:
        for number, (start, week) in enumerate(zip(starts, weeks, strict=True)):
            closed = resource_type == PRACTICE and start <= holiday < start + timedelta(weeks=1)
            holidays = {day_name(holiday): HOLIDAY_NAME} if closed else {}
            own_week = {day: spans for day, spans in week.items() if day not in holidays}
            common = {
                "href": practice.href(f"/practice_schedule/{resource_type.casefold()}-{resource_id}-{number}"),
                "practice_id": practice.practice_id,
                "practice_href": practice.href(),
                "cust_id": practice.cust_id,
                "resource_type": resource_type,
                "resource_id": resource_id,
            }
            rows.append(week_row(common, start, own_week, holidays))
    return rows


def _varied(rng: random.Random, person: Person, layout: Roster, weeks: int) -> list[Week]:
    """The person's weeks: usual, except one week with an extra day, one with a day off and one starting an
    hour late (never the last week, which later days repeat)."""
    usual = person.week or {}
    extra, off, late = rng.sample(range(weeks - 1), 3)
    varied = [usual] * weeks
    free_day = next((day for day in DAYS if day in layout.practice_week and day not in usual), None)
    if free_day is not None:
        varied[extra] = {**usual, free_day: layout.practice_week[free_day]}
    day_off = rng.choice(sorted(usual))
    varied[off] = {day: spans for day, spans in usual.items() if day != day_off}
    varied[late] = {day: _start_late(spans) for day, spans in usual.items()}
    return varied


def _start_late(spans: Sequence[Interval]) -> Sequence[Interval]:
    (start, end), *rest = spans
    return [(start + 60, end), *rest] if end - start > 60 else spans


def _patients(
    rng: random.Random, practice: Practice, patient_ids: Sequence[str], today: date, locale: Locale
) -> dict[str, Record]:
    phones = iter(_phone_numbers(rng, locale.area_codes, 3 * len(patient_ids)))
    emails: set[str] = set()
    dentists = [p.provider_id for p in practice.roster.bookable if p.specialty != HYGIENIST[0]]
    hygienist = next((p.provider_id for p in practice.roster.bookable if p.specialty == HYGIENIST[0]), "")
    patients: dict[str, Record] = {}
    for patient_id in patient_ids:
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
        values = {
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
            "provider_id": rng.choice(dentists),
            "hygienist": hygienist,
            "created_date": sikka_date(created),
            "first_visit": sikka_date(created),
            "preferred_contact": rng.choice(("Cell", "Email", "Text", "")),
        }
        patients[patient_id] = practice.make_patient(patient_id, values)
        billing.insure(rng, patients[patient_id], practice.insurance_companies)
    _make_families(rng, list(patients.values()))
    return patients


def _make_families(rng: random.Random, patients: Sequence[Record]) -> None:
    """Turn some patients into families: a guarantor born before 1990 and two or three dependents who take
    the guarantor's last name, address, cell phone (stored the same way) and insurance."""
    adults = [p for p in patients if p["birthdate"] < "1990" and p["cell"] and p["status"] == "Active"]
    heads = rng.sample(adults, min(len(adults), max(1, len(patients) // FAMILY_SHARE)))
    free = [p for p in patients if p not in heads]
    for head in heads:
        for number in range(min(len(free), rng.randint(2, 3))):
            dependent = free.pop(rng.randrange(len(free)))
            relationship = "Spouse" if number == 0 else "Child"
            dependent.update(
                {key: head[key] for key in ("lastname", "address_line1", "address_line2", "city", "zipcode", "cell")},
                guarantor_id=head["patient_id"],
                guarantor_patient_id=head["patient_id"],
                guarantor_href=head["guarantor_href"],
                guarantor_first_name=head["firstname"],
                guarantor_last_name=head["lastname"],
                homephone="",
                status="Active",
            )
            billing.share_insurance(dependent, head, relationship)


def _phone_numbers(rng: random.Random, area_codes: Sequence[str], count: int) -> list[str]:
    """`count` distinct fictional numbers (555-01xx first), in mixed formats: 70% `646-555-0123`,
    20% `(646) 555-0123`, 10% `6465550123`."""
    areas = len(area_codes)
    picks = rng.sample(range(max(count, 100 * areas)), count)
    numbers = [(area_codes[i % areas], f"{100 + i // areas:04d}") for i in picks]
    return [
        f"{area}-555-{line}" if roll < 0.7 else f"({area}) 555-{line}" if roll < 0.9 else f"{area}555{line}"
        for (area, line), roll in ((number, rng.random()) for number in numbers)
    ]


def _random_day(rng: random.Random, first: date, last: date) -> date:
    return date.fromordinal(rng.randint(first.toordinal(), last.toordinal()))


def _appointments(rng: random.Random, practice: Practice, today: date) -> list[Record]:
    """Non-overlapping bookings within hours, from the first schedule week to FUTURE_DAYS ahead."""
    everyone = list(practice.patients)
    active = [pid for pid, patient in practice.patients.items() if patient["status"] == "Active"]
    first = date.fromisoformat(practice.schedule[0]["date"][:10])
    bookings: list[Record] = []
    for offset in range((first - today).days, FUTURE_DAYS):
        day = today + timedelta(days=offset)
        chairs: dict[str, list[Interval]] = {chair: [] for chair in practice.roster.chairs}
        for person in practice.roster.bookable:
            density = 0.45 if offset < 0 else rng.choice((0.2, 0.3, 0.45, 0.6, 0.95))
            for start, end in open_hours(practice.schedule, day, provider_id=person.provider_id):
                cursor = start
                while cursor < end:
                    visit = rng.choice(person.visits)
                    finish = cursor + visit.length
                    chair = _free_chair(chairs, person, cursor, finish)
                    if finish > end or chair is None or rng.random() >= density:
                        cursor += 30
                        continue
                    bookings.append(_booking(rng, day, today, cursor, person, chair, visit, everyone, active))
                    if not is_cancel_status(bookings[-1]["status"]):
                        chairs[chair].append((cursor, finish))
                    cursor = finish
    return sorted(bookings, key=lambda booking: (booking["date"], booking["time"], booking["provider_id"]))


def _booking(
    rng: random.Random,
    day: date,
    today: date,
    start: int,
    person: Person,
    chair: str,
    visit: Visit,
    everyone: Sequence[str],
    active: Sequence[str],
) -> Record:
    past = day < today
    status = _status(rng, past)
    made = min(day, today) - timedelta(days=rng.randint(1, 60))
    return {
        "patient_id": rng.choice(everyone if past else active),
        "provider_id": person.provider_id,
        "operatory": chair,
        "date": sikka_date(day),
        "time": to_hhmm(start),
        "length": str(visit.length),
        "type": visit.value,
        "description": visit.description,
        "status": status,
        "note": rng.choice(("", "", "", "Prefers morning reminders", "Anxious patient")),
        "appointment_made_date": sikka_date(made),
        "last_changed_date": sikka_date(made),
        "cancelled_date": sikka_date(made) if is_cancel_status(status) else "",
    }


def _free_chair(chairs: Mapping[str, Sequence[Interval]], person: Person, start: int, end: int) -> str | None:
    """The first of the provider's chairs (then any other) free during [start, end)."""
    order = person.operatories + tuple(chair for chair in chairs if chair not in person.operatories)
    return next((chair for chair in order if all(e <= start or end <= s for s, e in chairs[chair])), None)


def _status(rng: random.Random, past: bool) -> str:
    roll = rng.random()
    if past:
        return "Broken" if roll < 0.05 else "Canceled" if roll < 0.09 else "Complete"
    return "Canceled" if roll < 0.04 else "Confirmed" if roll < 0.4 else "Scheduled"


def _set_last_visits(practice: Practice) -> None:
    for appointment in practice.appointments.values():
        patient = practice.patients[appointment["patient_id"]]
        if appointment["status"] == "Complete":
            patient["last_visit"] = max(patient["last_visit"], appointment["date"])
    for patient in practice.patients.values():
        patient["last_visit"] = patient["last_visit"] or patient["first_visit"]
