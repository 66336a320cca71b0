"""The demo office: deterministic, realistic, two locations, and consistent with its own schedule."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from sandbox import (
    DEMO_OFFICE_ID,
    DEMO_PRACTICE_NAME,
    DEMO_SECOND_PRACTICE_ID,
    DEMO_SECOND_PRACTICE_NAME,
    Practice,
    SandboxConfig,
    SandboxState,
)
from sandbox.practice import span
from sandbox.schedule import Interval, open_hours
from tests.sandbox.support import FakeClock

TODAY = date(2026, 11, 25)
DASHED = re.compile(r"\d{3}-\d{3}-\d{4}")
PARENS = re.compile(r"\(\d{3}\) \d{3}-\d{4}")
DIGITS = re.compile(r"\d{10}")


@pytest.fixture
def demo(state: SandboxState) -> Practice:
    return state.practice(DEMO_OFFICE_ID)


@pytest.fixture
def branch(state: SandboxState) -> Practice:
    return state.practice(DEMO_OFFICE_ID, DEMO_SECOND_PRACTICE_ID)


def locations(state: SandboxState) -> list[Practice]:
    return state.practices(DEMO_OFFICE_ID)


def test_deterministic_for_the_same_seed_and_clock(state: SandboxState) -> None:
    twin = SandboxState(SandboxConfig(clock=FakeClock()))
    for mine, theirs in zip(locations(state), locations(twin), strict=True):
        assert (theirs.patients, theirs.appointments, theirs.schedule) == (
            mine.patients,
            mine.appointments,
            mine.schedule,
        )
        assert (theirs.debts, theirs.insurance_companies) == (mine.debts, mine.insurance_companies)
    other = SandboxState(SandboxConfig(clock=FakeClock(), seed=1)).practice(DEMO_OFFICE_ID)
    assert other.patients != locations(state)[0].patients


def test_practice(demo: Practice, branch: Practice) -> None:
    assert (demo.name, demo.pms, demo.time_zone, demo.state) == (
        DEMO_PRACTICE_NAME,
        "Dentrix",
        "Eastern Standard Time",
        "NY",
    )
    assert str(demo.zone) == "America/New_York"
    assert (branch.name, branch.pms, branch.city, branch.secret_key) == (
        DEMO_SECOND_PRACTICE_NAME,
        "Dentrix",
        "Brooklyn",
        demo.secret_key,
    )
    assert demo.cust_id != branch.cust_id
    assert (demo.main_office, branch.main_office) == (True, False)


def test_patients(demo: Practice) -> None:
    patients = list(demo.patients.values())
    assert len(patients) == 200
    assert any(p["preferred_name"] for p in patients)
    assert any(p["homephone"] for p in patients)
    assert any(p["workphone"] for p in patients)
    assert {p["status"] for p in patients} == {"Active", "Inactive"}
    assert all("1940-01-01" <= p["birthdate"] <= "2020-12-31T00:00:00" for p in patients)
    assert all(p["birthdate"].endswith("T00:00:00") for p in patients)
    assert all(p["first_visit"] <= p["last_visit"] < f"{TODAY}" for p in patients)


def test_phones_come_in_mixed_formats(demo: Practice) -> None:
    phones = [p[kind] for p in demo.patients.values() for kind in ("cell", "homephone", "workphone") if p[kind]]
    formats = Counter(
        "dashed" if DASHED.fullmatch(phone) else "parens" if PARENS.fullmatch(phone) else "digits" for phone in phones
    )
    assert all(DASHED.fullmatch(p) or PARENS.fullmatch(p) or DIGITS.fullmatch(p) for p in phones)
    assert 0.6 < formats["dashed"] / len(phones) < 0.8
    assert 0.12 < formats["parens"] / len(phones) < 0.28
    assert 0.04 < formats["digits"] / len(phones) < 0.16


def test_families_share_the_guarantors_phone(demo: Practice) -> None:
    families: dict[str, list[dict[str, str]]] = defaultdict(list)
    for patient in demo.patients.values():
        families[patient["guarantor_id"]].append(patient)
    shared = [members for members in families.values() if len(members) > 1]
    assert len(shared) >= 3
    for members in shared:
        guarantor = demo.patients[members[0]["guarantor_id"]]
        assert {m["cell"] for m in members} == {guarantor["cell"]}
        assert {m["lastname"] for m in members} == {guarantor["lastname"]}
        assert {m["guarantor_first_name"] for m in members} == {guarantor["firstname"]}
    cells = Counter(p["cell"] for p in demo.patients.values() if p["cell"])
    assert max(cells.values()) >= 3


def test_providers_users_and_operatories(demo: Practice, branch: Practice) -> None:
    names = {(p["provider_id"], p["firstname"], p["lastname"], p["status"], p["provider_type"]) for p in demo.providers}
    assert names == {
        ("DDS1", "Sarah", "Chen", "Active", "Provider"),
        ("DDS2", "Michael", "Patel", "Active", "Provider"),
        ("HYG1", "Maria", "Lopez", "Active", "Provider"),
        ("DDS0", "Robert", "Hughes", "Inactive", "Provider"),
        ("STF1", "Linda", "Park", "Active", "Staff"),
    }
    assert [p["provider_id"] for p in demo.providers if p["is_user"] == "True"] == ["STF1"]
    assert [(o["operatory"], o["is_hidden"]) for o in demo.operatories] == [
        ("OP1", "F"),
        ("OP2", "F"),
        ("OP3", "F"),
        ("OP4", "F"),
        ("OP5", "T"),
    ]
    assert {o["practice_id"] for o in demo.operatories} == {"1-0"}
    assert {u["status"] for u in demo.users} == {"Active", "Inactive"}
    assert not {p["provider_id"] for p in demo.providers} & {p["provider_id"] for p in branch.providers}
    assert not {o["operatory"] for o in demo.operatories} & {o["operatory"] for o in branch.operatories}
    assert [o["is_hidden"] for o in branch.operatories].count("T") == 1
    assert not set(demo.patients) & set(branch.patients)


def test_hours_per_location(demo: Practice, branch: Practice) -> None:
    monday, saturday, sunday = (TODAY + timedelta(days=n) for n in (5, 3, 4))
    assert open_hours(demo.schedule, monday) == [(8 * 60, 12 * 60), (13 * 60, 17 * 60)]
    assert open_hours(demo.schedule, saturday) == [(9 * 60, 13 * 60)]
    assert open_hours(demo.schedule, sunday) == []
    assert open_hours(branch.schedule, monday) == [(9 * 60, 13 * 60), (14 * 60, 18 * 60)]
    assert open_hours(branch.schedule, saturday) == []


def test_providers_usual_week(demo: Practice) -> None:
    """Most weeks DDS2 is off on Mondays and HYG1 leaves at 2 PM on Fridays."""
    mondays = [TODAY + timedelta(days=5 + 7 * n) for n in range(-4, 8)]
    assert sum(bool(open_hours(demo.schedule, day, provider_id="DDS2")) for day in mondays) <= 1
    fridays = [TODAY + timedelta(days=2 + 7 * n) for n in range(-4, 8)]
    friday_hours = Counter(tuple(open_hours(demo.schedule, day, provider_id="HYG1")) for day in fridays)
    assert friday_hours.most_common(1)[0][0] == ((8 * 60, 12 * 60), (13 * 60, 14 * 60))


def test_one_holiday_without_appointments(state: SandboxState) -> None:
    for practice in locations(state):
        closed = [
            (row, day)
            for row in practice.schedule
            for day in ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
            if row[f"{day}_holiday"]
        ]
        ((row, day),) = closed
        assert (row["resource_type"], row[f"{day}_holiday"], day) == ("Practice", "Founders Day", "thursday")
        holiday = date.fromisoformat(row["date"][:10]) + timedelta(days=4)
        assert 10 <= (holiday - TODAY).days <= 16
        assert open_hours(practice.schedule, holiday) == []
        assert open_hours(practice.schedule, holiday + timedelta(days=7)) != []
        assert not [a for a in practice.appointments.values() if a["date"][:10] == holiday.isoformat()]


def test_bookings_from_the_first_schedule_week_to_thirty_days_ahead(demo: Practice) -> None:
    dates = {date.fromisoformat(a["date"][:10]) for a in demo.appointments.values()}
    days = [TODAY + timedelta(days=n) for n in range(30)]
    open_weekdays = {day for day in days if day.weekday() < 5 and open_hours(demo.schedule, day)}
    assert len(open_weekdays) == 21
    assert open_weekdays <= dates
    assert max(dates) == max(open_weekdays)
    assert min(dates) == date(2026, 10, 26)  # the Monday of the first schedule week
    statuses = {a["status"] for a in demo.appointments.values()}
    assert {"Complete", "Scheduled", "Confirmed", "Canceled"} <= statuses
    future = [a for a in demo.appointments.values() if a["date"] >= f"{TODAY}"]
    assert all(a["status"] in {"Scheduled", "Confirmed", "Canceled"} for a in future)
    assert all(demo.patients[a["patient_id"]]["status"] == "Active" for a in future)


def test_bookings_never_overlap_and_stay_within_hours(state: SandboxState) -> None:
    for practice in locations(state):
        visible = {o["operatory"] for o in practice.operatories if o["is_hidden"] == "F"}
        taken: dict[tuple[str, str], list[Interval]] = defaultdict(list)
        for appointment in practice.appointments.values():
            assert appointment["operatory"] in visible
            if appointment["cancelled"] == "True":
                continue
            start, end = span(appointment)
            day = date.fromisoformat(appointment["date"][:10])
            hours = open_hours(
                practice.schedule, day, provider_id=appointment["provider_id"], operatory=appointment["operatory"]
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
