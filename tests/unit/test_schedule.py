"""`practice_schedule` rows are per week (reference §9: `date` holds the start date of a week)."""

from __future__ import annotations

from datetime import date, time

import pytest

from server.sikka.schedule import DayHours, PracticeSchedule, holiday_value
from tests.fixtures import example_items

SUN_NOV_29 = date(2026, 11, 29)
SUN_DEC_6 = date(2026, 12, 6)
SUN_DEC_20 = date(2026, 12, 20)


def row(week: date | None, resource: tuple[str, str] = ("Practice", "1"), **days: str) -> dict[str, str]:
    """A get_all row; `days` maps e.g. monday="8:00 AM-12:00 PM,1:00 PM-5:00 PM" or monday_holiday="Christmas"."""
    item = {"resource_type": resource[0], "resource_id": resource[1], "date": f"{week}T00:00:00" if week else ""}
    for key, value in days.items():
        if key.endswith("_holiday"):
            item[key] = value
            continue
        for n, span in enumerate(filter(None, value.split(",")), start=1):
            start, end = span.split("-")
            item[f"{key}_start_{n}"], item[f"{key}_end_{n}"] = start, end
    return item


def hours(schedule: PracticeSchedule, day: date) -> list[tuple[str, str]]:
    return [(start.strftime("%H:%M"), end.strftime("%H:%M")) for start, end in schedule.practice_hours(day)]


def test_the_documented_example_parses_to_no_hours() -> None:
    items = example_items("practice_schedule.json", "practice_schedule?fields=get_all")
    schedule = PracticeSchedule.from_items(items, "1")
    assert schedule.practice_hours(date(2026, 12, 7)) == ()  # placeholders ("monday start 1") are not times


def test_each_day_takes_the_row_of_the_week_that_contains_it() -> None:
    schedule = PracticeSchedule.from_items(
        [row(SUN_NOV_29, monday="8:00 AM-12:00 PM,1:00 PM-5:00 PM"), row(SUN_DEC_6, monday="09:00-13:00")], "1"
    )
    assert hours(schedule, date(2026, 11, 30)) == [("08:00", "12:00"), ("13:00", "17:00")]
    assert hours(schedule, date(2026, 12, 7)) == [("09:00", "13:00")]  # the next week differs


def test_the_week_comes_from_the_rows_date_whatever_weekday_starts_it() -> None:
    monday_weeks = PracticeSchedule.from_items([row(date(2026, 11, 30), sunday="10:00-14:00")], "1")
    assert hours(monday_weeks, date(2026, 12, 6)) == [("10:00", "14:00")]  # the Sunday ending a Monday week
    assert hours(monday_weeks, date(2026, 11, 29)) == []  # before the first week: closed


def test_a_missing_week_falls_back_to_the_latest_earlier_week() -> None:
    schedule = PracticeSchedule.from_items(
        [row(SUN_NOV_29, tuesday="08:00-12:00"), row(SUN_DEC_20, tuesday="10:00-11:00")], "1"
    )
    assert hours(schedule, date(2026, 12, 8)) == [("08:00", "12:00")]  # week of Dec 6 missing: Nov 29's
    assert hours(schedule, date(2026, 12, 15)) == [("08:00", "12:00")]
    assert hours(schedule, date(2027, 3, 2)) == [("10:00", "11:00")]  # past the last week: the last one


def test_an_undated_row_is_a_standing_template_for_weeks_without_their_own() -> None:
    schedule = PracticeSchedule.from_items([row(None, friday="07:00-15:00"), row(SUN_NOV_29, friday="")], "1")
    assert hours(schedule, date(2026, 12, 4)) == []  # the dated week leaves Friday blank: closed
    assert hours(schedule, date(2026, 12, 11)) == [("07:00", "15:00")]


@pytest.mark.parametrize("value", ["Christmas Day", "True", "Y", "1"])
def test_a_holiday_closes_the_day_and_keeps_its_name(value: str) -> None:
    schedule = PracticeSchedule.from_items(
        [row(SUN_DEC_20, thursday="08:00-17:00", friday="08:00-17:00", friday_holiday=value)], "1"
    )
    christmas = schedule.practice_day(date(2026, 12, 25))
    assert christmas.closed
    assert christmas.holiday == ("holiday" if value in ("True", "Y", "1") else value)
    assert schedule.practice_day(date(2026, 12, 24)) == DayHours(((time(8), time(17)),))


@pytest.mark.parametrize("value", ["", "False", "false", "N", "0", None])
def test_ordinary_days_are_not_holidays(value: str | None) -> None:
    assert holiday_value(value) is None


def test_blank_days_are_closed_and_broken_spans_are_ignored() -> None:
    schedule = PracticeSchedule.from_items([row(SUN_NOV_29, monday="17:00-08:00", wednesday="")], "1")
    assert schedule.practice_day(date(2026, 11, 30)).closed
    assert schedule.practice_day(date(2026, 12, 2)) == DayHours()


def test_resources_have_their_own_weeks_and_none_means_practice_hours() -> None:
    schedule = PracticeSchedule.from_items(
        [row(SUN_NOV_29, monday="08:00-17:00"), row(SUN_NOV_29, ("Provider", "DDS1"), monday="09:00-12:00")], "1"
    )
    monday = date(2026, 11, 30)
    assert schedule.resource_hours("provider", "DDS1", monday) == ((time(9), time(12)),)
    assert schedule.resource_hours("provider", "DDS2", monday) is None
    assert schedule.resource_hours("operatory", "OP1", monday) is None


def test_the_locations_own_practice_row_wins() -> None:
    schedule = PracticeSchedule.from_items(
        [
            row(SUN_NOV_29, ("Practice", "2"), monday="12:00-13:00"),
            row(SUN_NOV_29, ("Practice", "1"), monday="08:00-09:00"),
        ],
        "1",
    )
    assert hours(schedule, date(2026, 11, 30)) == [("08:00", "09:00")]
