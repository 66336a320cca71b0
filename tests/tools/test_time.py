"""A tool call's time comes from the injected clock (`Services.clock`): its `now`, the practice's `today` and
the earliest bookable start are the call's, whatever the host's clock says (tools/context.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from tests.support import DEMO_ZONE, practice_today
from tests.tools.conftest import Desk

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("clock", "days_after"), [(time(23, 59), 0), (time(0, 1), 1)])
async def test_today_is_the_practice_s_at_the_call_s_instant(desk: Desk, clock: time, days_after: int) -> None:
    """A minute before the practice's midnight it is still that day there (though past midnight in UTC); a
    minute after, the next: every answer's `today`, the week of hours and the date a caller's words resolve to."""
    day = practice_today() + timedelta(days=2)
    instant = datetime.combine(day + timedelta(days=days_after), clock, DEMO_ZONE)
    expected = (day + timedelta(days=days_after)).isoformat()
    assert instant.astimezone(UTC).date() == day + timedelta(days=1)  # UTC is already on the next day
    with desk.clock_at(instant):
        info = await desk.call("getPracticeInfo", {})
        asked = await desk.call("checkAvailability", {"date": "today"})
    assert info["today"] == expected
    assert info["hours"][0]["day"] == expected
    assert asked["today"] == expected
    assert asked["startDate"] == expected


async def test_a_day_is_past_once_the_practice_s_midnight_passed(desk: Desk) -> None:
    day = practice_today() + timedelta(days=3)
    with desk.clock_at(datetime.combine(day, time(23, 59), DEMO_ZONE)):
        same_day = await desk.call("checkAvailability", {"date": day.isoformat()})
    with desk.clock_at(datetime.combine(day + timedelta(days=1), time(0, 1), DEMO_ZONE)):
        next_day = await desk.call("checkAvailability", {"date": day.isoformat()})
    assert same_day["code"] != "date_in_past"
    assert next_day["code"] == "date_in_past"


async def test_openings_start_no_sooner_than_the_call_s_earliest_bookable_time(desk: Desk) -> None:
    """On an open day, at its opening time, openings that day start at least the minimum notice later."""
    info = await desk.call("getPracticeInfo", {})
    day = next(d for d in info["hours"][2:] if d["open"] and d["hours"])
    opens = time.fromisoformat(day["hours"][0]["opens"])
    instant = datetime.combine(date.fromisoformat(day["day"]), opens, DEMO_ZONE)
    earliest = instant + timedelta(minutes=desk.services.settings.booking_min_notice_minutes)
    arguments = {"date": day["day"], "preferredTime": opens.strftime("%H:%M")}
    before = await desk.call("checkAvailability", arguments)
    with desk.clock_at(instant):
        during = await desk.call("checkAvailability", arguments)
    assert any(datetime.fromisoformat(s["startTime"]) < earliest for s in before["slots"])
    assert during["slots"]
    assert all(datetime.fromisoformat(s["startTime"]) >= earliest for s in during["slots"])
