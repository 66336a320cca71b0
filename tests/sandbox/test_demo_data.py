"""The demo practice: deterministic, realistic, and consistent with its own schedule."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest

from sandbox import DEMO_OFFICE_ID, DEMO_PRACTICE_NAME, Practice, SandboxConfig, SandboxState
from sandbox.practice import span
from sandbox.schedule import Interval, day_name, open_hours
from tests.sandbox.support import FakeClock

TODAY = date(2026, 11, 25)


@pytest.fixture
def demo(state: SandboxState) -> Practice:
    return state.practice(DEMO_OFFICE_ID)


def test_deterministic_for_the_same_seed_and_clock(demo: Practice) -> None:
    twin = SandboxState(SandboxConfig(clock=FakeClock())).practice(DEMO_OFFICE_ID)
    assert twin.patients == demo.patients
    assert twin.appointments == demo.appointments
    assert twin.schedule == demo.schedule
    other = SandboxState(SandboxConfig(clock=FakeClock(), seed=1)).practice(DEMO_OFFICE_ID)
    assert other.patients != demo.patients


def test_practice(demo: Practice) -> None:
    assert (demo.name, demo.pms, demo.time_zone, demo.state) == (
        DEMO_PRACTICE_NAME,
        "Dentrix",
        "Eastern Standard Time",
        "NY",
    )
    assert str(demo.zone) == "America/New_York"


def test_patients(demo: Practice) -> None:
    patients = list(demo.patients.values())
    assert len(patients) == 200
    cells = [p["cell"] for p in patients if p["cell"]]
    assert len(cells) == len(set(cells)) > 180
    assert all(len(cell) == 12 and cell[3:8] == "-555-" for cell in cells)
    assert any(p["preferred_name"] for p in patients)
    assert any(p["homephone"] for p in patients)
    assert any(p["workphone"] for p in patients)
    assert {p["status"] for p in patients} == {"Active", "Inactive"}
    assert all("1940-01-01" <= p["birthdate"] <= "2020-12-31T00:00:00" for p in patients)
    assert all(p["birthdate"].endswith("T00:00:00") for p in patients)
    assert all(p["first_visit"] <= p["last_visit"] < f"{TODAY}" for p in patients)


def test_providers_and_operatories(demo: Practice) -> None:
    names = {(p["provider_id"], p["firstname"], p["lastname"], p["status"]) for p in demo.providers}
    assert names == {
        ("DDS1", "Sarah", "Chen", "Active"),
        ("DDS2", "Michael", "Patel", "Active"),
        ("HYG1", "Maria", "Lopez", "Active"),
        ("DDS0", "Robert", "Hughes", "Inactive"),
    }
    assert [(o["operatory"], o["abbreviation"]) for o in demo.operatories] == [
        ("OP1", "OP-1"),
        ("OP2", "OP-2"),
        ("OP3", "OP-3"),
        ("OP4", "OP-4"),
    ]


def test_weekly_hours(demo: Practice) -> None:
    monday, friday, saturday, sunday = (TODAY + timedelta(days=n) for n in (5, 2, 3, 4))
    hours = [(8 * 60, 12 * 60), (13 * 60, 17 * 60)]
    assert open_hours(demo.schedule, monday) == hours
    assert open_hours(demo.schedule, sunday) == []
    assert open_hours(demo.schedule, saturday) == [(9 * 60, 13 * 60)]
    assert open_hours(demo.schedule, monday, provider_id="DDS2") == []
    assert open_hours(demo.schedule, friday, provider_id="HYG1") == [(8 * 60, 12 * 60), (13 * 60, 14 * 60)]


def test_one_holiday_without_appointments(demo: Practice) -> None:
    (holiday_row,) = [row for row in demo.schedule if row["date"]]
    holiday = date.fromisoformat(holiday_row["date"][:10])
    assert (holiday_row["resource_type"], holiday_row[f"{day_name(holiday)}_holiday"]) == ("practice", "True")
    assert holiday.weekday() == 3
    assert 10 <= (holiday - TODAY).days <= 16
    assert open_hours(demo.schedule, holiday) == []
    assert open_hours(demo.schedule, holiday + timedelta(days=7)) != []
    assert not [a for a in demo.appointments.values() if a["date"] == holiday_row["date"]]


def test_thirty_days_of_bookings_and_some_history(demo: Practice) -> None:
    dates = {date.fromisoformat(a["date"][:10]) for a in demo.appointments.values()}
    days = [TODAY + timedelta(days=n) for n in range(30)]
    open_weekdays = {day for day in days if day.weekday() < 5 and open_hours(demo.schedule, day)}
    assert len(open_weekdays) == 21
    assert open_weekdays <= dates
    assert max(dates) == max(open_weekdays)
    assert min(dates) < TODAY
    statuses = {a["status"] for a in demo.appointments.values()}
    assert {"Complete", "Scheduled", "Confirmed", "Canceled"} <= statuses
    future = [a for a in demo.appointments.values() if a["date"] >= f"{TODAY}"]
    assert all(a["status"] in {"Scheduled", "Confirmed", "Canceled"} for a in future)
    assert all(demo.patients[a["patient_id"]]["status"] == "Active" for a in future)


def test_bookings_never_overlap_and_stay_within_hours(demo: Practice) -> None:
    taken: dict[tuple[str, str], list[Interval]] = defaultdict(list)
    for appointment in demo.appointments.values():
        if appointment["cancelled"] == "True":
            continue
        start, end = span(appointment)
        day = date.fromisoformat(appointment["date"][:10])
        hours = open_hours(
            demo.schedule, day, provider_id=appointment["provider_id"], operatory=appointment["operatory"]
        )
        assert any(open_start <= start and end <= open_end for open_start, open_end in hours), appointment
        for resource in (appointment["provider_id"], appointment["operatory"]):
            spans = taken[appointment["date"], resource]
            assert all(end <= s or e <= start for s, e in spans), appointment
            spans.append((start, end))


def test_busy_days(demo: Practice) -> None:
    """Some provider-days are nearly full (at least 85% of their open minutes booked)."""
    booked: dict[tuple[str, str], int] = defaultdict(int)
    for appointment in demo.appointments.values():
        if appointment["cancelled"] == "False" and appointment["date"] >= f"{TODAY}":
            booked[appointment["date"], appointment["provider_id"]] += int(appointment["length"])

    def open_minutes(key: tuple[str, str]) -> int:
        hours = open_hours(demo.schedule, date.fromisoformat(key[0][:10]), provider_id=key[1])
        return sum(end - start for start, end in hours)

    assert any(minutes >= 0.85 * open_minutes(key) for key, minutes in booked.items())
