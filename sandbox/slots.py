"""`GET /appointments_available_slots`: free template slots, only for OrthoTrac and Dolphin (§10).

A slot is 30 minutes of an active provider's (provider_type "Provider") open hours on the week rows of
`practice_schedule`, on a date from startdate to enddate (default: a week from today; never a past day,
today only from the current time on), with the provider and one of the location's visible chairs free;
the slot names that chair (`operatory`, a get_all field). OrthoTrac bookings must name one of these rows
(sandbox.rules). The documented examples are placeholders, so the template fields are left empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta

from sandbox.envelopes import Record, invalid
from sandbox.formats import sikka_date, to_hhmm
from sandbox.practice import ORTHO_PMSES, Practice, span
from sandbox.schedule import Interval, open_hours

SLOT_MINUTES = 30
SLOT_DAYS_DEFAULT = 7
SLOT_DAYS_MAX = 31


def available_slots(practice: Practice, now: datetime, params: Mapping[str, str]) -> list[Record]:
    """Free 30-minute slots per active provider with a free chair; only OrthoTrac and Dolphin have any."""
    if practice.pms.casefold() not in ORTHO_PMSES:
        return []
    local_now = practice.local(now)
    first = _day(params, "startdate", local_now.date())
    last = _day(params, "enddate", first + timedelta(days=SLOT_DAYS_DEFAULT - 1))
    if not 0 <= (last - first).days < SLOT_DAYS_MAX:
        raise invalid(f"enddate must be on or after startdate and within {SLOT_DAYS_MAX} days.")
    days = [day for n in range((last - first).days + 1) if (day := first + timedelta(days=n)) >= local_now.date()]
    busy = _busy(practice, {sikka_date(day) for day in days})
    active = [person.provider_id for person in practice.roster.bookable]
    slots: list[Record] = []
    for day in days:
        earliest = local_now.hour * 60 + local_now.minute if day == local_now.date() else 0
        for provider_id in active:
            for slot in _candidates(practice, day, provider_id, earliest):
                chair = _free_chair(practice, busy.get(sikka_date(day), []), provider_id, slot)
                if chair is not None:
                    slots.append(_slot(practice, provider_id, day, slot, chair, len(slots) + 1))
    return slots


def _candidates(practice: Practice, day: date, provider_id: str, earliest: int) -> Iterator[Interval]:
    """The provider's 30-minute slots on `day` that start at or after `earliest`."""
    for start, end in open_hours(practice.schedule, day, provider_id=provider_id):
        for time in range(start, end - SLOT_MINUTES + 1, SLOT_MINUTES):
            if time >= earliest:
                yield time, time + SLOT_MINUTES


Booking = tuple[str, str, Interval]
"""(provider_id, operatory, span) of a non-cancelled appointment."""


def _busy(practice: Practice, dates: set[str]) -> dict[str, list[Booking]]:
    busy: dict[str, list[Booking]] = {}
    for appointment in practice.appointments.values():
        if appointment["date"] in dates and appointment["cancelled"] != "True":
            busy.setdefault(appointment["date"], []).append(
                (appointment["provider_id"], appointment["operatory"], span(appointment))
            )
    return busy


def _free_chair(practice: Practice, bookings: list[Booking], provider_id: str, slot: Interval) -> str | None:
    def overlaps(other: Interval) -> bool:
        return other[0] < slot[1] and slot[0] < other[1]

    if any(who == provider_id and overlaps(booked) for who, _, booked in bookings):
        return None
    taken = {chair for _, chair, booked in bookings if overlaps(booked)}
    return next((chair for chair in practice.roster.chairs if chair not in taken), None)


def _slot(practice: Practice, provider_id: str, day: date, slot: Interval, chair: str, number: int) -> Record:
    return {
        "href": practice.href(f"/appointments_available_slots/{practice.practice_id}"),
        "provider_id": provider_id,
        "provider_href": practice.href(f"/providers/{provider_id}"),
        "practice_id": practice.practice_id,
        "practice_href": practice.href(),
        "date": sikka_date(day),
        "time": to_hhmm(slot[0]),
        "end_time": to_hhmm(slot[1]),
        "time_units": str(SLOT_MINUTES // 10),
        "operatory": chair,
        "sr_no": str(number),
        "template_code": "",
        "template_unit": str(SLOT_MINUTES // 10),
        "template_color": "",
        "template_type": "",
        "old_color": "",
        "old_code": "",
        "scheduled_color": "",
        "scheduled_code": "",
        "cust_id": practice.cust_id,
    }


def _day(params: Mapping[str, str], name: str, default: date) -> date:
    value = params.get(name, "")
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        raise invalid(f"{name} must be yyyy-mm-dd.") from None
