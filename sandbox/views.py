"""The records each read endpoint lists, derived from the state (stored records are listed as they are)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

from sandbox.envelopes import Record, invalid
from sandbox.practice import HREF_BASE, ORTHO_PMSES, Practice, sikka_date, span
from sandbox.schedule import Interval, open_hours, to_hhmm
from sandbox.state import RequestKey

SLOT_MINUTES = 30
SLOT_DAYS_DEFAULT = 7
SLOT_DAYS_MAX = 31
SCOPE = (
    "start,end,appointment_statuses,appointments,operatories,patients,practice_schedule,practice_variables,"
    "providers,appointments_available_slots,writeback_status,writeback_details,appointment,patient"
)

# Inferred: Sikka lists per-PMS writeback capabilities without an example body. Patient updates are
# documented for OrthoTrac and Dolphin only.
PMSES = ("Dentrix", "Dentrix Enterprise", "Eaglesoft", "Open Dental", "OrthoTrac", "Dolphin", "Curve Dental")


def http_date(moment: datetime) -> str:
    """`Wed, 26 Nov 2026 20:00:00 GMT`."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def request_key_body(key: RequestKey, now: datetime, base_url: str) -> Record:
    """The documented `POST /request_key` response (times in UTC)."""
    start, end = key.start_time.astimezone(UTC), key.end_time.astimezone(UTC)
    return {
        "href": f"{base_url}/v4/request_key_info?request_key={key.request_key}",
        "request_key": key.request_key,
        "start_time": f"{start:%Y-%m-%dT%H:%M:%S}",
        "end_time": f"{end:%Y-%m-%dT%H:%M:%S}",
        "expires_in": f"{max(0, int((key.end_time - now).total_seconds()))} second(s)",
        "issued_to": key.office_id,
        "status": "active" if now < key.end_time else "expired",
        "request_count": str(key.request_count),
        "scope": SCOPE,
        "domain": "Dental",
        "refresh_key": key.refresh_key,
    }


def authorized_practice(practice: Practice, now: datetime) -> Record:
    synced = f"{practice.local(now) - timedelta(minutes=5):%Y-%m-%dT%H:%M:%S}"
    return {
        "href": f"{HREF_BASE}/authorized_practices/{practice.office_id}",
        "city": practice.city,
        "state": practice.state,
        "practice_id": practice.practice_id,
        "address": practice.address,
        "zip": practice.zipcode,
        "office_id": practice.office_id,
        "domain": "Dental",
        "secret_key": practice.secret_key,
        "practice_name": practice.name,
        "practice_management_system": practice.pms,
        "financial_system": "",
        "practice_management_system_refresh_date": synced,
        "data_synchronization_date": synced,
        "data_insert_date": f"{practice.local(practice.authorized_at):%Y-%m-%dT%H:%M:%S}",
        "practice_management_system_version": practice.pms_version,
        "practice_management_system_refresh_date_time_zone": practice.time_zone,
        "partner_id": "",
        "financial_system_refresh_date": "",
        "financial_system_version": "",
        "difference_in_minutes": "5",
    }


def practice_location(practice: Practice) -> Record:
    return {
        "city": practice.city,
        "state": practice.state,
        "email": "",
        "practice_id": practice.practice_id,
        "phone": "**********",
        "zip_code": practice.zipcode,
        "address": practice.address,
        "practice_name": practice.name,
        "access": "on" if practice.listed else "off",
    }


def appointment_statuses(practice: Practice) -> list[Record]:
    return [
        {
            "href": practice.href(f"/appointment_statuses/{status}"),
            "status": status,
            "practice_id": practice.practice_id,
            "practice_href": practice.href(),
        }
        for status in practice.statuses
    ]


def practice_variables(practice: Practice) -> list[Record]:
    """The appointment statuses as `service_name` "Appointment Status", plus the schedule's time unit."""
    variables = [("Appointment Status", status, status) for status in practice.statuses]
    variables.append(("Schedule Time Unit", "10", "Minutes per schedule unit"))
    return [
        {
            "href": practice.href("/practice_variables"),
            "practice_id": practice.practice_id,
            "practice_href": practice.href(),
            "description": description,
            "service_name": service_name,
            "value": value,
            "service_item": "",
        }
        for service_name, value, description in variables
    ]


def supported_pmses() -> list[Record]:
    return [
        {
            "href": f"{HREF_BASE}/supported_pmses/{pms.replace(' ', '%20')}",
            "practice_management_system": pms,
            "new_patient_writeback": "True",
            "new_appointment_writeback": "True",
            "appointment_status_writeback": "True",
            "appointment_reschedule_writeback": "True",
            "patient_update_writeback": str(pms.casefold() in ORTHO_PMSES),
        }
        for pms in PMSES
    ]


def available_slots(practice: Practice, now: datetime, params: Mapping[str, str]) -> list[Record]:
    """Free 30-minute slots per active provider with a free chair; only OrthoTrac and Dolphin have any."""
    if practice.pms.casefold() not in ORTHO_PMSES:
        return []
    local_now = practice.local(now)
    first = _day(params, "startdate", local_now.date())
    last = _day(params, "enddate", first + timedelta(days=SLOT_DAYS_DEFAULT - 1))
    if not 0 <= (last - first).days < SLOT_DAYS_MAX:
        raise invalid(f"enddate must be on or after startdate and within {SLOT_DAYS_MAX} days.")
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    busy = _busy(practice, {sikka_date(day) for day in days})
    active = [row["provider_id"] for row in practice.providers if row["status"] == "Active"]
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
    return next((row["operatory"] for row in practice.operatories if row["operatory"] not in taken), None)


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
