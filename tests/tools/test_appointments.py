"""The appointment tools (tools/appointments.py) tell the assistant what happened: replays, moves there and back,
past dates and times, closed versus full days, a move to its own time, short-lived Sikka keys, and OrthoTrac's
availability from Sikka's own slots. Each tool call on its own MCP connection, as Vapi makes them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from sandbox import open_hours
from tests.support import DEMO_ZONE, call, closed_day, identity, open_day, practice_today
from tests.tools.conftest import Desk
from tools.speech import spoken_day

pytestmark = pytest.mark.anyio


def patient(desk: Desk, index: int) -> dict[str, str]:
    """The index-th active patient of the desk's practice: each test keeps to its own."""
    rows: list[dict[str, str]] = [p for p in desk.practice.patients.values() if p["status"] == "Active"]
    return rows[index]


async def two_slots(desk: Desk, call_id: str, after_days: int) -> list[dict[str, Any]]:
    """The first and last open slot of the week from the first open day `after_days` ahead."""
    day = open_day(desk, after_days)
    found = await desk.call(
        "checkAvailability", {"startDate": day.isoformat(), "endDate": (day + timedelta(days=6)).isoformat()}, call_id
    )
    assert found["outcome"] == "ok", found
    return [found["slots"][0], found["slots"][-1]]


def booked_at(desk: Desk, patient_id: str, start: str) -> list[dict[str, str]]:
    return [
        a
        for a in desk.practice.appointments.values()
        if a["patient_id"] == patient_id and f"{a['date'][:10]}T{a['time']}" == start[:16] and a["cancelled"] != "True"
    ]


async def test_book_cancel_book_again_books_again(desk: Desk) -> None:
    me = patient(desk, 1)
    first, _ = await two_slots(desk, "rebook", 20)
    request = {**identity(me), "startTime": first["startTime"], "providerId": first["providerId"]}
    booked = await desk.call("bookAppointment", request, "rebook")
    retried = await desk.call("bookAppointment", request, "rebook")  # the model repeats itself: a replay
    assert booked["outcome"] == retried["outcome"] == "confirmed"
    assert retried["appointmentId"] == booked["appointmentId"]
    cancelled = await desk.call(
        "cancelAppointment", {**identity(me), "appointmentId": booked["appointmentId"]}, "rebook"
    )
    assert cancelled["outcome"] == "confirmed", cancelled
    again = await desk.call("bookAppointment", request, "rebook")
    assert again["outcome"] == "confirmed", again
    assert again["appointmentId"] != booked["appointmentId"]  # a new booking, not the cancelled one's id
    assert [a["appointment_sr_no"] for a in booked_at(desk, me["patient_id"], first["startTime"])] == [
        again["appointmentId"]
    ]


async def test_moving_there_and_back_and_there_again_ends_there(desk: Desk) -> None:
    me = patient(desk, 2)
    a, b = await two_slots(desk, "shuffle", 27)
    booked = await desk.call(
        "bookAppointment", {**identity(me), "startTime": a["startTime"], "providerId": a["providerId"]}, "shuffle"
    )
    appointment = {**identity(me), "appointmentId": booked["appointmentId"]}
    to_b = {**appointment, "newStartTime": b["startTime"], "providerId": b["providerId"]}
    to_a = {**appointment, "newStartTime": a["startTime"], "providerId": a["providerId"]}
    for move in (to_b, to_a, to_b):
        moved = await desk.call("rescheduleAppointment", move, "shuffle")
        assert moved["outcome"] == "confirmed", moved
    final = desk.practice.appointments[booked["appointmentId"]]
    assert f"{final['date'][:10]}T{final['time']}" == b["startTime"][:16]


async def test_a_date_in_last_year_is_said_to_have_passed_with_todays_date(desk: Desk) -> None:
    today = practice_today()
    slipped = open_day(desk, 3) - timedelta(days=365)
    with desk.clock_at(datetime.combine(today, time(10), DEMO_ZONE)):
        result = await desk.call("checkAvailability", {"date": slipped.isoformat()}, "slip")
    assert (result["outcome"], result["code"]) == ("invalid", "date_in_past")
    assert result["today"] == today.isoformat()
    assert "passed" in result["message"]
    assert str(today.year) in result["message"]


async def test_a_start_time_in_the_past_is_not_called_taken(desk: Desk) -> None:
    me = patient(desk, 3)
    now = datetime.combine(open_day(desk, 3), time(10, 30), DEMO_ZONE)
    yesterday = datetime.combine(now.date() - timedelta(days=1), time(10), DEMO_ZONE)
    with desk.clock_at(now):
        result = await desk.call("bookAppointment", {**identity(me), "startTime": yesterday.isoformat()}, "past-start")
    assert (result["outcome"], result["code"]) == ("invalid", "time_in_past")
    assert result["today"] == now.date().isoformat()
    assert result["message"].startswith(f"{spoken_day(yesterday.date())}, {yesterday.year} at ")  # the day it read


async def test_a_closed_day_is_closed_not_full(desk: Desk) -> None:
    day = closed_day(desk, 2)
    result = await desk.call("checkAvailability", {"date": day.isoformat()}, "closed")
    assert (result["outcome"], result["code"]) == ("not_found", "office_closed"), result
    assert "closed" in result["message"]
    assert result["nextAvailableDates"]


async def test_a_full_day_is_full(desk: Desk) -> None:
    day = open_day(desk, 35)
    practice = desk.practice
    for provider in (row["provider_id"] for row in practice.providers if row["provider_type"] == "Provider"):
        for number, (start, end) in enumerate(open_hours(practice.schedule, day, provider_id=provider)):
            sr_no = f"9{provider}{day:%m%d}{number}"
            practice.appointments[sr_no] = practice.make_appointment(
                sr_no,
                {
                    "patient_id": patient(desk, 4)["patient_id"],
                    "provider_id": provider,
                    "operatory": "",
                    "date": f"{day.isoformat()}T00:00:00",
                    "time": f"{start // 60:02d}:{start % 60:02d}",
                    "length": str(end - start),
                },
            )
    result = await desk.call("checkAvailability", {"date": day.isoformat()}, "full")
    assert (result["outcome"], result["code"]) == ("not_found", "day_full"), result


async def test_a_refused_move_never_offers_the_appointments_own_time_and_its_own_time_changes_nothing(
    desk: Desk,
) -> None:
    me = patient(desk, 5)
    a, _ = await two_slots(desk, "own-time", 41)
    booked = await desk.call(
        "bookAppointment", {**identity(me), "startTime": a["startTime"], "providerId": a["providerId"]}, "own-time"
    )
    appointment = {**identity(me), "appointmentId": booked["appointmentId"], "providerId": a["providerId"]}
    desk.sandbox.reset_counters()
    same = await desk.call("rescheduleAppointment", {**appointment, "newStartTime": a["startTime"]}, "own-time-2")
    assert (same["outcome"], same["code"]) == ("ok", "already_at_that_time")
    assert not any(name.startswith(("PUT", "POST", "PATCH")) for name in desk.sandbox.counters)
    night = a["startTime"][:11] + "22:00:00" + a["startTime"][19:]  # after hours on an open day
    refused = await desk.call("rescheduleAppointment", {**appointment, "newStartTime": night}, "own-time-3")
    assert refused["outcome"] == "refused", refused
    assert all(alt["startTime"] != a["startTime"] for alt in refused["alternatives"])


async def test_short_lived_keys_are_renewed_once_not_on_every_call(desk: Desk) -> None:
    desk.sandbox.config.key_ttl_seconds = 120  # far shorter than SIKKA_REFRESH_MARGIN_SECONDS (one hour)
    desk.sandbox.expire_request_keys()
    try:
        desk.sandbox.reset_counters()
        async with desk.client("short-keys") as client:
            for _ in range(20):
                await call(client, "searchPatients", {"name": "Smith"})
        assert desk.sandbox.counters["POST /request_key"] == 1  # one renewal, then fresh for half its life
    finally:
        desk.sandbox.config.key_ttl_seconds = 86400
        desk.sandbox.expire_request_keys()


# --- OrthoTrac: Sikka's own open slots ------------------------------------------------------------------------


def ortho_open_day(desk: Desk, after_days: int) -> date:
    """The first day `after_days` or more ahead on which the OrthoTrac practice's schedule opens it."""
    day = practice_today() + timedelta(days=after_days)
    while not open_hours(desk.practice.schedule, day):
        day += timedelta(days=1)
    return day


async def test_orthotrac_availability_comes_from_sikkas_slots(ortho_desk: Desk) -> None:
    day = ortho_open_day(ortho_desk, 3)
    async with ortho_desk.client() as client:
        await call(client, "checkAvailability", {"date": day.isoformat()})  # warm the metadata cache
        ortho_desk.sandbox.reset_counters()
        result = await call(
            client,
            "checkAvailability",
            {"startDate": day.isoformat(), "endDate": (day + timedelta(days=4)).isoformat()},
        )
    assert result["outcome"] == "ok", result
    assert 1 <= len(result["slots"]) <= 5
    counters = {name: count for name, count in ortho_desk.sandbox.counters.items() if count}
    assert counters == {"GET /appointments_available_slots": 1}
