"""Builders for the availability tests: a small practice in America/New_York made of Sikka-shaped items.

Practice hours (an undated, standing row) are Monday–Friday 08:00–12:00 and 13:00–17:00 (lunch 12:00–13:00).
Dr Able works the practice's hours; Dr Brief has her own row (mornings 09:00–12:00 only); Dr Gone is inactive, and
a staff member can occupy operatories but is never bookable. OP1 and OP2 are open; OP9 is hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.sikka.metadata import Capabilities, PracticeMetadata
from server.sikka.records import Appointment, Choice, Operatory, PracticeProfile, Provider
from server.sikka.schedule import WEEKDAYS, PracticeSchedule

ZONE = ZoneInfo("America/New_York")
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)

Block = tuple[str, str]
Hours = Mapping[str, Sequence[Block]]

WORKDAYS = WEEKDAYS[:5]
PRACTICE_HOURS: Hours = dict.fromkeys(WORKDAYS, (("08:00", "12:00"), ("13:00", "17:00")))
MORNINGS_ONLY: Hours = dict.fromkeys(WORKDAYS, (("09:00", "12:00"),))


def week_of(day: date) -> date:
    """The Sunday that starts `day`'s week (the sandbox's and many US PMSs' week start)."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


def schedule_row(
    resource_type: str,
    resource_id: str,
    *,
    hours: Hours | None = None,
    on: date | None = None,
    holidays: Iterable[str] = (),
) -> dict[str, str]:
    """A `practice_schedule` item: undated (a standing template), or with `on` the row of the week containing
    `on` (dated with that week's Sunday), the practice's hours with `hours` replacing the days it names."""
    closed = set(holidays)
    assert closed <= set(WEEKDAYS), f"unknown weekday in {closed}"
    week: Hours = {**PRACTICE_HOURS, **(hours or {})} if on else (hours or {})
    row = {
        "resource_type": resource_type,
        "resource_id": resource_id,
        "date": f"{week_of(on).isoformat()}T00:00:00" if on else "",
    }
    for day in WEEKDAYS:
        blocks = list(week.get(day, ()))
        assert len(blocks) <= 3, "Sikka rows carry at most three blocks a day"
        blocks += [("", "")] * (3 - len(blocks))
        for n, (start, end) in enumerate(blocks, start=1):
            row[f"{day}_start_{n}"] = start
            row[f"{day}_end_{n}"] = end
        row[f"{day}_holiday"] = "True" if day in closed else "False"
    return row


def provider(
    provider_id: str, last_name: str, *, status: str = "Active", hidden: str = "F", kind: str = "Dentist"
) -> Provider:
    return Provider.from_item(
        {
            "provider_id": provider_id,
            "firstname": "Dr",
            "lastname": last_name,
            "provider_type": kind,
            "specialty": "General Dentistry",
            "status": status,
            "is_hidden": hidden,
        }
    )


def operatory(name: str, *, hidden: str = "F") -> Operatory:
    return Operatory.from_item({"operatory": name, "abbreviation": name.lower(), "is_hidden": hidden})


ABLE = provider("P1", "Able")
BRIEF = provider("P2", "Brief")
GONE = provider("P3", "Gone", status="Inactive")
STAFF = provider("S1", "Front", kind="Staff")
OP1 = operatory("OP1")
OP2 = operatory("OP2")
HIDDEN_OP = operatory("OP9", hidden="T")


def practice(
    *extra_rows: dict[str, str],
    weekly_holidays: Iterable[str] = (),
    providers: Sequence[Provider] = (ABLE, BRIEF, GONE, STAFF),
) -> PracticeMetadata:
    """The test practice; `extra_rows` add week rows or more resources' rows to its undated schedule."""
    rows = [
        schedule_row("practice", "1", hours=PRACTICE_HOURS, holidays=weekly_holidays),
        schedule_row("provider", BRIEF.provider_id, hours=MORNINGS_ONLY),
        *extra_rows,
    ]
    return PracticeMetadata(
        practice=PracticeProfile(practice_id="1", cust_id="1"),
        pms="Dentrix",
        zone=ZONE,
        providers=tuple(providers),
        operatories=(OP1, HIDDEN_OP, OP2),
        schedule=PracticeSchedule.from_items(rows, "1"),
        statuses=(Choice("sched", "Scheduled"), Choice("conf", "Confirmed"), Choice("cancel", "Canceled")),
        appointment_types=(Choice("1", "Adult prophylaxis"), Choice("2", "Periodic exam")),
        capabilities=Capabilities(),
    )


def appointment(
    who: Provider,
    day: date,
    clock: str,
    minutes: int,
    room: Operatory | None = OP1,
    *,
    status: str = "Scheduled",
    cancelled: str = "False",
) -> Appointment:
    """A Sikka appointment item (all strings, practice-local wall time) parsed as the gateway parses it."""
    parsed = Appointment.from_item(
        {
            "appointment_sr_no": f"{who.provider_id}-{day.isoformat()}-{clock}",
            "patient_id": "1001",
            "provider_id": who.provider_id,
            "date": f"{day.isoformat()}T00:00:00",
            "time": clock,
            "length": str(minutes),
            "status": status,
            "operatory": room.operatory if room else "",
            "cancelled": cancelled,
            "type": "Exam",
            "description": "Exam",
        },
        ZONE,
    )
    assert parsed is not None
    return parsed


def grid(first: str, last: str) -> list[str]:
    """Quarter-hour wall times from `first` to `last` inclusive, as "HH:MM"."""
    start, stop = (datetime.strptime(clock, "%H:%M") for clock in (first, last))
    count = (stop - start) // timedelta(minutes=15) + 1
    return [(start + n * timedelta(minutes=15)).strftime("%H:%M") for n in range(count)]
