"""`practice_schedule` as week rows (§9, §23.1), and the sandbox's own use of them."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, DEMO_SECOND_PRACTICE_ID, SandboxState, open_hours
from sandbox.schedule import DAYS
from tests.sandbox.support import error_code, items

TODAY = date(2026, 11, 25)
FIRST_WEEK, LAST_WEEK = date(2026, 10, 25), date(2027, 1, 17)  # Sundays 4 weeks before and 8 weeks after
CLOCK = re.compile(r"(1[0-2]|[1-9]):[0-5]\d (AM|PM)")


async def rows(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[dict[str, str]]:
    return await items(client, "/v4/practice_schedule", headers, fields="get_all", **params)


@pytest.mark.anyio
async def test_one_row_per_resource_per_week_from_sunday(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    schedule = await rows(client, headers, practice_id="1")
    weeks: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in schedule:
        weeks[row["resource_type"], row["resource_id"]].append(row["date"])
    expected = [f"{FIRST_WEEK + timedelta(weeks=n)}T00:00:00" for n in range(13)]
    assert set(weeks) == {
        ("Practice", "1"),
        *(("Provider", p) for p in ("DDS1", "DDS2", "HYG1")),
        *(("Operatory", o) for o in ("OP1", "OP2", "OP3", "OP4")),
    }
    assert all(sorted(dates) == expected for dates in weeks.values())
    assert all(date.fromisoformat(row["date"][:10]).weekday() == 6 for row in schedule)


@pytest.mark.anyio
async def test_times_are_12_hour_and_holidays_are_names(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    schedule = await rows(client, headers)
    times = [
        row[f"{day}_{edge}_{n}"] for row in schedule for day in DAYS for edge in ("start", "end") for n in (1, 2, 3)
    ]
    assert {time for time in times if time} >= {"8:00 AM", "12:00 PM", "1:00 PM", "5:00 PM", "9:00 AM", "6:00 PM"}
    assert all(CLOCK.fullmatch(time) for time in times if time)
    holidays = {row[f"{day}_holiday"] for row in schedule for day in DAYS}
    assert holidays == {"", "Founders Day"}
    (holiday_row,) = [row for row in schedule if row["thursday_holiday"] and row["practice_id"] == "1"]
    assert (holiday_row["thursday_start_1"], holiday_row["wednesday_start_1"]) == ("", "8:00 AM")


@pytest.mark.anyio
async def test_day_columns_only_with_get_all(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    (row, *_) = await items(client, "/v4/practice_schedule", headers)
    assert list(row) == ["href", "practice_id", "practice_href", "date", "cust_id", "resource_type", "resource_id"]
    (extra, *_) = await items(client, "/v4/practice_schedule", headers, fields="monday_start_1")
    assert list(extra)[-1] == "monday_start_1"


@pytest.mark.anyio
async def test_date_parameter_matches_a_week_start_only(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    sunday = await rows(client, headers, date="2026-11-22")
    assert sunday
    assert {row["date"] for row in sunday} == {"2026-11-22T00:00:00"}
    assert await rows(client, headers, date="2026-11-25") == []
    bad = await client.get("/v4/practice_schedule", headers=headers, params={"date": "11/22/2026"})
    assert error_code(bad) == "API1026"


@pytest.mark.anyio
async def test_filters(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    providers = await rows(client, headers, resource_type="Provider", practice_id=DEMO_SECOND_PRACTICE_ID)
    assert {row["resource_id"] for row in providers} == {"DDS3", "HYG2"}
    assert {row["practice_id"] for row in providers} == {DEMO_SECOND_PRACTICE_ID}
    dds1 = await rows(client, headers, resource_id="DDS1")
    assert len(dds1) == 13


def test_weeks_differ(state: SandboxState) -> None:
    """Each provider has one week with an extra day, one with a day off and one starting an hour late."""
    schedule = state.practice(DEMO_OFFICE_ID).schedule
    for provider_id in ("DDS1", "DDS2", "HYG1"):
        weeks = [
            tuple(row[key] for key in row if key.endswith(("_1", "_2", "_3")))
            for row in schedule
            if row["resource_id"] == provider_id
        ]
        assert len(set(weeks)) >= 3, provider_id
        usual = max(set(weeks), key=weeks.count)
        assert weeks.count(usual) >= 9


def test_days_outside_the_weeks(state: SandboxState) -> None:
    """After the last week a day follows the latest earlier week; before the first it is closed."""
    schedule = state.practice(DEMO_OFFICE_ID).schedule
    last_wednesday = LAST_WEEK + timedelta(days=3)
    assert open_hours(schedule, last_wednesday + timedelta(weeks=20)) == open_hours(schedule, last_wednesday)
    assert open_hours(schedule, last_wednesday, provider_id="DDS1") == open_hours(
        schedule, last_wednesday + timedelta(weeks=5), provider_id="DDS1"
    )
    assert open_hours(schedule, FIRST_WEEK + timedelta(days=1)) != []
    assert open_hours(schedule, FIRST_WEEK - timedelta(days=6)) == []


def test_a_provider_follows_the_week_rows(state: SandboxState) -> None:
    """The sandbox reads its own rows: only the week where DDS2 works a Monday gives DDS2 Monday hours and
    Monday bookings."""
    schedule = state.practice(DEMO_OFFICE_ID).schedule
    mondays = [FIRST_WEEK + timedelta(weeks=n, days=1) for n in range(13)]
    worked = [day for day in mondays if open_hours(schedule, day, provider_id="DDS2")]
    for day in worked:
        (row,) = [
            r for r in schedule if r["resource_id"] == "DDS2" and r["date"] == f"{day - timedelta(days=1)}T00:00:00"
        ]
        assert row["monday_start_1"]
    assert len(worked) == 1
    booked_mondays = {
        a["date"][:10]
        for a in state.practice(DEMO_OFFICE_ID).appointments.values()
        if a["provider_id"] == "DDS2" and date.fromisoformat(a["date"][:10]).weekday() == 0
    }
    assert booked_mondays <= {worked[0].isoformat()}
