"""Open slots from the practice schedule minus appointments (tools/availability.py), with exact times.

The practice is described in availability_builders: Mon–Fri 08:00–12:00 and 13:00–17:00 in New York,
Dr Able (P1) on practice hours, Dr Brief (P2) mornings 09:00–12:00 only, operatories OP1/OP2 (OP9 hidden).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest

from server.sikka.metadata import PracticeMetadata
from server.sikka.records import Appointment, Provider
from tests.unit.availability_builders import (
    ABLE,
    BRIEF,
    GONE,
    HIDDEN_OP,
    LONG_AGO,
    OP1,
    OP2,
    STAFF,
    ZONE,
    appointment,
    grid,
    practice,
    provider,
    schedule_row,
)
from tools.availability import Candidate, DayPlan, nearest_open_days, open_slots, spread

MONDAY = date(2026, 12, 7)
TUESDAY = date(2026, 12, 8)
WEDNESDAY = date(2026, 12, 9)
THURSDAY = date(2026, 12, 10)
CHRISTMAS_EVE = date(2026, 12, 24)  # a Thursday
SPRING_FORWARD = date(2026, 3, 8)  # Sunday; 02:00 EST jumps to 03:00 EDT
FALL_BACK = date(2026, 11, 1)  # Sunday; 02:00 EDT falls back to 01:00 EST
FULL_DAY = [*grid("08:00", "11:30"), *grid("13:00", "16:30")]  # 30-minute starts on practice hours


def slots(
    day: date,
    minutes: int = 30,
    *,
    metadata: PracticeMetadata | None = None,
    appointments: Sequence[Appointment] = (),
    provider_id: str | None = None,
    earliest: datetime = LONG_AGO,
) -> list[Candidate]:
    found = open_slots(
        [day],
        metadata or practice(),
        list(appointments),
        duration=timedelta(minutes=minutes),
        earliest=earliest,
        provider_id=provider_id,
    )
    return found[day]


def clocks(candidates: Sequence[Candidate], who: Provider | None = None) -> list[str]:
    """Distinct wall-clock starts ("HH:MM"), in order, optionally for one provider."""
    return list(dict.fromkeys(c.start.strftime("%H:%M") for c in candidates if who in (None, c.provider)))


def instants(candidates: Sequence[Candidate]) -> list[str]:
    return list(dict.fromkeys(c.start.isoformat() for c in candidates))


def night_hours(day: date, close: str) -> dict[str, str]:
    """A dated practice row opening `day` (a Sunday) from midnight, so a DST change falls inside opening hours."""
    return schedule_row("practice", "1", on=day, hours={"sunday": (("00:00", close),)})


def at(day: date, walls: Sequence[str], offset: str) -> list[str]:
    """ISO instants for wall times ("HH:MM") on `day` at a UTC `offset`."""
    return [f"{day.isoformat()}T{wall}:00{offset}" for wall in walls]


# --- an ordinary day ---------------------------------------------------------------------------------


def test_ordinary_day_offers_every_quarter_hour_of_both_blocks() -> None:
    found = slots(MONDAY)

    assert clocks(found, ABLE) == FULL_DAY
    assert all(c.start.tzinfo is ZONE and c.start.utcoffset() == timedelta(hours=-5) for c in found)
    assert found == sorted(found, key=lambda c: (c.start, c.provider.provider_id))


@pytest.mark.parametrize(
    ("minutes", "last_morning", "last_afternoon"),
    [(30, "11:30", "16:30"), (60, "11:00", "16:00"), (90, "10:30", "15:30")],
)
def test_duration_sets_the_last_start_of_each_block(minutes: int, last_morning: str, last_afternoon: str) -> None:
    found = slots(MONDAY, minutes, provider_id=ABLE.provider_id)

    assert clocks(found) == [*grid("08:00", last_morning), *grid("13:00", last_afternoon)]
    block_ends = [datetime(2026, 12, 7, hour, tzinfo=ZONE) for hour in (12, 17)]
    for candidate in found:
        end = candidate.start + timedelta(minutes=minutes)
        assert any(candidate.start < block_end and end <= block_end for block_end in block_ends)


@pytest.mark.parametrize(("minutes", "last_fit"), [(30, "11:30"), (60, "11:00"), (90, "10:30")])
def test_lunch_gap_has_no_starts_and_is_not_crossed(minutes: int, last_fit: str) -> None:
    starts = clocks(slots(MONDAY, minutes, provider_id=ABLE.provider_id))

    assert last_fit in starts
    assert [clock for clock in starts if last_fit < clock < "13:00"] == []
    assert starts[starts.index(last_fit) + 1] == "13:00"
    plan = DayPlan.build(MONDAY, practice(), [])
    duration = timedelta(minutes=minutes)
    assert (plan.check(ABLE, datetime(2026, 12, 7, 11, 30, tzinfo=ZONE), duration) is None) == (minutes > 30)
    assert plan.check(ABLE, datetime(2026, 12, 7, 12, 0, tzinfo=ZONE), duration) is None
    assert plan.check(ABLE, datetime(2026, 12, 7, 13, 0, tzinfo=ZONE), duration) is not None


# --- holidays and shorter hours -----------------------------------------------------------------------


def test_a_holiday_in_one_week_closes_that_date_only() -> None:
    metadata = practice(schedule_row("practice", "1", on=CHRISTMAS_EVE, holidays=["thursday"]))

    assert slots(CHRISTMAS_EVE, metadata=metadata) == []
    assert clocks(slots(CHRISTMAS_EVE + timedelta(days=7), metadata=metadata), ABLE) == FULL_DAY
    assert clocks(slots(CHRISTMAS_EVE - timedelta(days=7), metadata=metadata), ABLE) == FULL_DAY


def test_a_week_with_shorter_hours_wins_for_its_dates() -> None:
    half_day = schedule_row("practice", "1", on=CHRISTMAS_EVE, hours={"thursday": (("08:00", "12:00"),)})
    metadata = practice(half_day)

    assert clocks(slots(CHRISTMAS_EVE, metadata=metadata), ABLE) == grid("08:00", "11:30")
    assert clocks(slots(CHRISTMAS_EVE + timedelta(days=7), metadata=metadata), ABLE) == FULL_DAY


def test_weekly_holiday_closes_that_weekday() -> None:
    metadata = practice(weekly_holidays=["wednesday"])

    assert slots(WEDNESDAY, metadata=metadata) == []
    assert slots(WEDNESDAY + timedelta(days=7), metadata=metadata) == []
    assert clocks(slots(THURSDAY, metadata=metadata), ABLE) == FULL_DAY


def test_provider_holiday_closes_only_that_provider() -> None:
    metadata = practice(
        schedule_row("provider", ABLE.provider_id, on=TUESDAY, holidays=["tuesday"]),
        schedule_row("provider", ABLE.provider_id, on=TUESDAY + timedelta(days=7)),
    )

    found = slots(TUESDAY, metadata=metadata)
    assert clocks(found, ABLE) == []
    assert clocks(found, BRIEF) == grid("09:00", "11:30")
    assert clocks(slots(TUESDAY + timedelta(days=7), metadata=metadata), ABLE) == FULL_DAY


@pytest.mark.parametrize(("minutes", "last"), [(30, "11:30"), (60, "11:00"), (90, "10:30")])
def test_provider_with_shorter_hours_is_offered_only_inside_them(minutes: int, last: str) -> None:
    found = slots(MONDAY, minutes)

    assert clocks(found, BRIEF) == grid("09:00", last)
    assert clocks(found, ABLE)[0] == "08:00"
    assert "13:00" in clocks(found, ABLE)
    plan = DayPlan.build(MONDAY, practice(), [])
    two_pm = datetime(2026, 12, 7, 14, tzinfo=ZONE)
    assert plan.check(BRIEF, two_pm, timedelta(minutes=minutes)) is None
    assert plan.check(ABLE, two_pm, timedelta(minutes=minutes)) is not None


def test_asking_for_one_provider_returns_only_that_provider() -> None:
    found = slots(MONDAY, provider_id=BRIEF.provider_id)

    assert {c.provider for c in found} == {BRIEF}
    assert clocks(found) == grid("09:00", "11:30")


# --- appointments, operatories, bookable providers ------------------------------------------------------


def test_busy_provider_is_not_offered_but_the_other_is_in_the_free_operatory() -> None:
    booked = [appointment(ABLE, MONDAY, "10:00", 60, OP1)]

    found = slots(MONDAY, 60, appointments=booked)

    assert clocks(found, ABLE) == [*grid("08:00", "09:00"), "11:00", *grid("13:00", "16:00")]
    at_ten = [c for c in found if c.start.strftime("%H:%M") == "10:00"]
    assert [(c.provider, c.operatory) for c in at_ten] == [(BRIEF, OP2)]


def test_every_operatory_busy_blocks_free_providers() -> None:
    booked = [appointment(STAFF, MONDAY, "10:00", 60, OP1), appointment(STAFF, MONDAY, "10:00", 60, OP2)]

    found = slots(MONDAY, appointments=booked)

    assert clocks(found, ABLE) == [*grid("08:00", "09:30"), *grid("11:00", "11:30"), *grid("13:00", "16:30")]
    assert clocks(found, BRIEF) == [*grid("09:00", "09:30"), *grid("11:00", "11:30")]


def test_hidden_operatory_is_never_chosen() -> None:
    op1_all_day, op2_all_day = (appointment(STAFF, MONDAY, "08:00", 540, room) for room in (OP1, OP2))

    assert HIDDEN_OP not in practice().open_operatories
    assert {c.operatory for c in slots(MONDAY)} == {OP1}
    assert {c.operatory for c in slots(MONDAY, appointments=[op1_all_day])} == {OP2}
    assert slots(MONDAY, appointments=[op1_all_day, op2_all_day]) == []


@pytest.mark.parametrize(("status", "cancelled"), [("Canceled", "False"), ("Scheduled", "True"), ("Broken", "")])
def test_cancelled_appointments_do_not_block(status: str, cancelled: str) -> None:
    booked = [
        appointment(who, MONDAY, "08:00", 540, room, status=status, cancelled=cancelled)
        for who, room in ((ABLE, OP1), (BRIEF, OP2))
    ]

    found = slots(MONDAY, appointments=booked)

    assert clocks(found, ABLE) == FULL_DAY
    assert clocks(found, BRIEF) == grid("09:00", "11:30")


def test_appointment_without_operatory_blocks_only_its_provider() -> None:
    found = slots(MONDAY, appointments=[appointment(ABLE, MONDAY, "08:00", 540, None)])

    assert clocks(found, ABLE) == []
    assert clocks(found, BRIEF) == grid("09:00", "11:30")


def test_inactive_hidden_and_staff_providers_are_not_bookable() -> None:
    hidden = provider("P4", "Hidden", hidden="T")
    metadata = practice(providers=(ABLE, BRIEF, GONE, STAFF, hidden))

    assert metadata.bookable_providers == (ABLE, BRIEF)
    assert {c.provider for c in slots(MONDAY, metadata=metadata)} == {ABLE, BRIEF}
    for outsider in (GONE, STAFF, hidden):
        assert slots(MONDAY, metadata=metadata, provider_id=outsider.provider_id) == []


# --- past times ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "earliest",
    [
        datetime(2026, 12, 7, 10, 20, tzinfo=ZONE),
        datetime(2026, 12, 7, 15, 20, tzinfo=UTC),  # the tool passes now + notice in UTC
    ],
)
def test_no_start_before_earliest(earliest: datetime) -> None:
    found = slots(MONDAY, earliest=earliest)

    assert clocks(found, ABLE) == [*grid("10:30", "11:30"), *grid("13:00", "16:30")]
    assert clocks(found, BRIEF) == grid("10:30", "11:30")


def test_start_exactly_at_earliest_is_offered_and_a_past_day_has_none() -> None:
    assert clocks(slots(MONDAY, earliest=datetime(2026, 12, 7, 13, 0, tzinfo=ZONE)))[0] == "13:00"
    assert slots(MONDAY, earliest=datetime(2026, 12, 7, 17, 0, tzinfo=ZONE)) == []


# --- a fully booked day and the nearest openings ------------------------------------------------------------


def booked_solid(day: date) -> list[Appointment]:
    return [appointment(ABLE, day, "08:00", 540, OP1), appointment(BRIEF, day, "08:00", 540, OP2)]


def test_fully_booked_day_has_none_and_nearest_open_days_skip_it_holidays_and_weekend() -> None:
    full = date(2026, 12, 23)  # Wednesday; Thursday 24 and Friday 25 are holidays, then the weekend
    metadata = practice(schedule_row("practice", "1", on=date(2026, 12, 24), holidays=["thursday", "friday"]))
    days = [full + timedelta(days=n) for n in range(9)]

    found = open_slots(
        days, metadata, booked_solid(full), duration=timedelta(minutes=30), earliest=LONG_AGO, provider_id=None
    )

    assert [day for day in days if not found[day]] == [full, *(date(2026, 12, d) for d in (24, 25, 26, 27))]
    assert clocks(found[date(2026, 12, 28)], ABLE) == FULL_DAY
    assert nearest_open_days(found, 3) == [date(2026, 12, 28), date(2026, 12, 29), date(2026, 12, 30)]


def test_nearest_open_days_orders_by_date_and_handles_none() -> None:
    one = slots(TUESDAY)[:1]
    found = {THURSDAY: one, MONDAY: [], WEDNESDAY: one, TUESDAY: one}

    assert nearest_open_days(found, 2) == [TUESDAY, WEDNESDAY]
    assert nearest_open_days(found, 5) == [TUESDAY, WEDNESDAY, THURSDAY]
    assert nearest_open_days({MONDAY: []}, 3) == []
    assert nearest_open_days({}, 3) == []


def test_partly_booked_day_keeps_its_gaps() -> None:
    booked = [appointment(ABLE, MONDAY, "08:00", 180, OP1), appointment(BRIEF, MONDAY, "09:00", 150, OP2)]

    found = slots(MONDAY, appointments=booked)

    assert clocks(found, ABLE) == [*grid("11:00", "11:30"), *grid("13:00", "16:30")]
    assert clocks(found, BRIEF) == ["11:30"]


# --- daylight saving time --------------------------------------------------------------------------------


def test_spring_forward_skips_the_missing_hour_and_switches_offset() -> None:
    metadata = practice(night_hours(SPRING_FORWARD, "06:00"))

    found = slots(SPRING_FORWARD, metadata=metadata, provider_id=ABLE.provider_id)

    assert instants(found) == [
        *at(SPRING_FORWARD, grid("00:00", "01:45"), "-05:00"),
        *at(SPRING_FORWARD, grid("03:00", "05:30"), "-04:00"),
    ]


@pytest.mark.parametrize(("minutes", "last_before_close"), [(60, "01:30"), (90, "01:00")])
def test_spring_forward_slot_lasts_real_minutes_up_to_closing(minutes: int, last_before_close: str) -> None:
    # 01:30 EST + 60 real minutes is 03:30 EDT: it fits a 03:30 close, 01:45 (ending 03:45) does not.
    metadata = practice(night_hours(SPRING_FORWARD, "03:30"))

    found = slots(SPRING_FORWARD, minutes, metadata=metadata, provider_id=ABLE.provider_id)

    assert instants(found) == at(SPRING_FORWARD, grid("00:00", last_before_close), "-05:00")


def test_spring_forward_slot_across_the_gap_meets_a_later_appointment() -> None:
    # A 60-minute visit at 01:30 EST really runs until 03:30 EDT, so it collides with a 03:00 EDT appointment.
    metadata = practice(night_hours(SPRING_FORWARD, "06:00"))
    booked = [appointment(ABLE, SPRING_FORWARD, "03:00", 30, OP1)]

    found = slots(SPRING_FORWARD, 60, metadata=metadata, appointments=booked, provider_id=ABLE.provider_id)

    assert instants(found) == [
        *at(SPRING_FORWARD, grid("00:00", "01:00"), "-05:00"),
        *at(SPRING_FORWARD, grid("03:30", "05:00"), "-04:00"),
    ]
    plan = DayPlan.build(SPRING_FORWARD, metadata, booked)
    half_past_one = datetime(2026, 3, 8, 1, 30, tzinfo=ZONE)
    assert plan.check(ABLE, half_past_one, timedelta(minutes=60)) is None
    assert plan.check(ABLE, half_past_one, timedelta(minutes=30)) is not None


def test_fall_back_offers_each_wall_time_once_with_the_right_offset() -> None:
    metadata = practice(night_hours(FALL_BACK, "04:00"))

    found = slots(FALL_BACK, metadata=metadata, provider_id=ABLE.provider_id)

    assert instants(found) == [
        *at(FALL_BACK, grid("00:00", "01:45"), "-04:00"),
        *at(FALL_BACK, grid("02:00", "03:30"), "-05:00"),
    ]
    assert len({c.start.astimezone(UTC) for c in found}) == len(found)


def test_fall_back_slot_lasts_real_minutes() -> None:
    # 01:45 EDT + 60 real minutes is 01:45 EST, which ends before a 02:00 EST appointment.
    metadata = practice(night_hours(FALL_BACK, "04:00"))
    booked = [appointment(ABLE, FALL_BACK, "02:00", 30, OP1)]

    found = slots(FALL_BACK, 60, metadata=metadata, appointments=booked, provider_id=ABLE.provider_id)

    assert instants(found) == [
        *at(FALL_BACK, grid("00:00", "01:45"), "-04:00"),
        *at(FALL_BACK, grid("02:30", "03:00"), "-05:00"),
    ]


def test_fall_back_compares_instants_not_wall_times_in_the_repeated_hour() -> None:
    # 01:00 EDT + 60 minutes ends at 01:00 EST, i.e. after a 01:30 EDT appointment though its wall time is earlier.
    metadata = practice(night_hours(FALL_BACK, "04:00"))
    booked = [appointment(ABLE, FALL_BACK, "01:30", 15, OP1)]  # Sikka's wall time; read as the first 01:30 (EDT)

    found = slots(FALL_BACK, 60, metadata=metadata, appointments=booked, provider_id=ABLE.provider_id)

    assert instants(found) == [
        *at(FALL_BACK, [*grid("00:00", "00:30"), "01:45"], "-04:00"),
        *at(FALL_BACK, grid("02:00", "03:00"), "-05:00"),
    ]


def test_fall_back_closing_inside_the_repeated_hour_is_the_first_one() -> None:
    metadata = practice(night_hours(FALL_BACK, "01:30"))  # closes at 01:30 EDT

    found = slots(FALL_BACK, 60, metadata=metadata, provider_id=ABLE.provider_id)

    assert instants(found) == at(FALL_BACK, grid("00:00", "00:30"), "-04:00")


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 6), -5), (date(2026, 3, 9), -4), (date(2026, 11, 2), -5)])
def test_ordinary_days_around_dst_have_that_seasons_offset(day: date, hours: int) -> None:
    found = slots(day, provider_id=ABLE.provider_id)

    assert clocks(found) == FULL_DAY
    assert {c.start.utcoffset() for c in found} == {timedelta(hours=hours)}


# --- spread ----------------------------------------------------------------------------------------------


def test_spread_picks_five_evenly_in_order_and_varies_providers() -> None:
    chosen = spread(slots(MONDAY))

    assert clocks(chosen) == ["08:00", "09:45", "11:30", "14:45", "16:30"]
    assert [c.provider for c in chosen] == [ABLE, BRIEF, ABLE, ABLE, ABLE]


def test_spread_covers_several_days_in_order() -> None:
    found = open_slots(
        [MONDAY, TUESDAY], practice(), [], duration=timedelta(minutes=30), earliest=LONG_AGO, provider_id="P1"
    )

    chosen = spread([c for day in sorted(found) for c in found[day]])

    assert instants(chosen) == [
        "2026-12-07T08:00:00-05:00",
        "2026-12-07T13:00:00-05:00",
        "2026-12-08T08:00:00-05:00",
        "2026-12-08T11:30:00-05:00",
        "2026-12-08T16:30:00-05:00",
    ]


def test_spread_keeps_few_options_and_alternates_providers_on_shared_times() -> None:
    both = [c for c in slots(MONDAY) if c.start.strftime("%H:%M") in ("11:00", "11:15")]
    assert [c.provider for c in both] == [ABLE, BRIEF, ABLE, BRIEF]

    chosen = spread(both)

    assert [(c.start.strftime("%H:%M"), c.provider) for c in chosen] == [("11:00", ABLE), ("11:15", BRIEF)]
    assert spread([]) == []
    assert clocks(spread(slots(MONDAY), 1)) == ["08:00"]
    assert clocks(spread(slots(MONDAY), 3)) == ["08:00", "11:30", "16:30"]


def test_a_start_the_dst_change_skips_is_never_bookable() -> None:
    """A caller's "02:30" without an offset on a spring-forward night names no real instant: refused."""
    from tools.appointments import _first_free, local_start

    spring_forward = date(2027, 3, 14)
    metadata = practice(night_hours(spring_forward, "06:00"))
    plan = DayPlan.build(spring_forward, metadata, [])
    half_hour = timedelta(minutes=30)

    skipped = local_start(datetime(2027, 3, 14, 2, 30), metadata)
    real = local_start(datetime(2027, 3, 14, 3, 30), metadata)

    assert _first_free(plan, [ABLE], skipped, half_hour) is None
    assert _first_free(plan, [ABLE], real, half_hour) is not None
