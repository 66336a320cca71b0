"""getPracticeInfo and getProviders as pure functions of the practice's metadata and the moment asked (the clock
is an argument, so nothing depends on today or the time of day)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from server.sikka.metadata import PracticeMetadata
from server.sikka.records import PracticeProfile, Provider
from server.sikka.schedule import PracticeSchedule
from tests.unit.availability_builders import ZONE, practice, schedule_row
from tools.practice import practice_info, role_of, spoken_team
from tools.results import ProviderInfo

MONDAY = date(2026, 12, 7)
THURSDAY = date(2026, 12, 10)
PROFILE = PracticeProfile(
    practice_id="1",
    cust_id="1",
    name="Happy Test Dental",
    address_line1="10 Main St",
    address_line2="Suite 4",
    city="New York",
    state="NY",
    zipcode="10016",
    phone="(646) 555-0199",
    website="https://happy.example.com",
)


def with_holiday() -> PracticeMetadata:
    """Mon–Fri 08:00–12:00 and 13:00–17:00, weekends closed; the week of Dec 7 has Founders Day on Thursday."""
    week = schedule_row("practice", "1", on=THURSDAY, holidays=("thursday",))
    week["thursday_holiday"] = "Founders Day"
    return dataclasses.replace(practice(week), practice=PROFILE)


def at(day: date, clock: str) -> datetime:
    hour, minute = map(int, clock.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def test_open_now_with_the_weeks_holiday_and_closed_days() -> None:
    info = practice_info(with_holiday(), at(MONDAY, "10:00").astimezone(UTC))
    assert info.message == (  # the holiday's name (the PMS's text) only in the structured hours
        "The office is open now until 12:00 PM; note that the office is closed on Thursday, December 10."
    )
    assert info.name == "Happy Test Dental"
    assert info.open_now is True
    assert [h.day for h in info.hours] == [f"2026-12-{d:02d}" for d in range(7, 14)]
    by_day = {h.weekday: h for h in info.hours}
    assert by_day["Monday"].said == "8:00 AM to 12:00 PM and 1:00 PM to 5:00 PM"
    assert [(s.opens, s.closes) for s in by_day["Monday"].hours] == [("08:00", "12:00"), ("13:00", "17:00")]
    holiday = by_day["Thursday"]
    assert (holiday.open, holiday.holiday, holiday.said, holiday.hours) == (
        False,
        "Founders Day",
        "closed for Founders Day",
        [],
    )
    for weekend in ("Saturday", "Sunday"):
        assert (by_day[weekend].open, by_day[weekend].said, by_day[weekend].holiday) == (False, "closed", None)
    assert (info.address, info.phone, info.website) == (
        "10 Main St, Suite 4, New York, NY 10016",
        "646-555-0199",
        "https://happy.example.com",
    )
    assert info.time_zone == "America/New_York"


@pytest.mark.parametrize(
    ("moment", "said"),
    [
        (at(MONDAY, "12:30"), "closed now and opens today at 1:00 PM"),
        (at(MONDAY, "07:00"), "closed now and opens today at 8:00 AM"),
        (at(date(2026, 12, 11), "17:00"), "closed now and opens on Monday, December 14 at 8:00 AM"),
        (at(date(2026, 12, 13), "09:00"), "closed now and opens tomorrow at 8:00 AM"),
    ],
)
def test_closed_now_says_when_it_opens(moment: datetime, said: str) -> None:
    info = practice_info(with_holiday(), moment)
    assert info.open_now is False
    assert info.message.startswith(f"The office is {said}")


def test_a_week_without_hours_is_said_so() -> None:
    no_rows = dataclasses.replace(practice(), practice=PROFILE, schedule=PracticeSchedule.from_items([], "1"))
    info = practice_info(no_rows, at(MONDAY, "10:00"))
    assert info.message == "The office is closed now, and I don't see opening hours in the coming week."
    assert not any(h.open for h in info.hours)


def test_unnamed_holidays_are_listed_by_day() -> None:
    closed = practice(weekly_holidays=("tuesday", "wednesday"))
    info = practice_info(dataclasses.replace(closed, practice=PROFILE), at(MONDAY, "13:00"))
    assert info.message == (
        "The office is open now until 5:00 PM; "
        "note that the office is closed on Tuesday, December 8 and Wednesday, December 9."
    )
    assert [h.said for h in info.hours[1:3]] == ["closed", "closed"]


def provider(provider_id: str, first: str, last: str, kind: str, specialty: str) -> Provider:
    item = {"provider_id": provider_id, "firstname": first, "lastname": last, "provider_type": kind}
    return Provider.from_item({**item, "specialty": specialty, "status": "Active"})


@pytest.mark.parametrize(
    ("kind", "specialty", "role"),
    [
        ("Provider", "General Dentist", "dentist"),
        ("Dentist", "", "dentist"),
        ("Provider", "Hygienist", "hygienist"),
        ("Hygienist", "", "hygienist"),
        ("Provider", "Orthodontist", "specialist"),
        ("Provider", "Endodontics", "specialist"),
        ("Provider", "Oral Surgeon", "specialist"),
        ("Provider", "Pediatric Dentist", "specialist"),
    ],
)
def test_roles_come_from_the_type_and_specialty(kind: str, specialty: str, role: str) -> None:
    assert role_of(provider("P", "A", "B", kind, specialty)) == role


def test_the_team_is_said_by_role_in_numbers_and_named_only_in_the_list() -> None:
    team = [
        provider("D1", "Sarah", "Chen", "Provider", "General Dentist"),
        provider("D2", "Michael", "Patel", "Provider", "General Dentist"),
        provider("H1", "Maria", "Lopez", "Provider", "Hygienist"),
        provider("O1", "Ann", "Ortiz", "Provider", "Orthodontist"),
    ]
    infos = [ProviderInfo(provider_id=p.provider_id, name=p.display_name, role=role_of(p)) for p in team]
    assert spoken_team(infos) == "The office has 2 dentists, 1 hygienist and 1 specialist"
    assert spoken_team(infos[2:3]) == "The office has 1 hygienist"
    assert [info.name for info in infos] == ["Sarah Chen", "Michael Patel", "Maria Lopez", "Ann Ortiz"]
