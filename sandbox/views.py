"""The records each read endpoint lists, derived from the state (stored records are listed as they are)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from sandbox.billing import balance_row
from sandbox.details import details
from sandbox.envelopes import Record
from sandbox.formats import sikka_date
from sandbox.practice import HREF_BASE, Practice
from sandbox.state import RequestKey

SCOPE = (
    "start,end,practices,appointment_statuses,appointments,operatories,patients,practice_schedule,"
    "practice_variables,providers,pms_users,appointments_available_slots,writeback_status,writeback_details,"
    "patient_balance,insurance_companies,insurance_plan_coverage,appointment,patient"
)


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
        # Empty until the location's data is uploaded (the reads answer API2010 meanwhile, §5).
        "data_insert_date": f"{practice.local(practice.authorized_at):%Y-%m-%dT%H:%M:%S}" if practice.uploaded else "",
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
        "access": "on" if practice.access else "off",
    }


def appointment_statuses(practice: Practice) -> list[Record]:
    return [
        {
            "href": practice.href(f"/appointment_statuses/{status}"),
            "status": status,
            "practice_id": practice.practice_id,
            "practice_href": practice.href(),
        }
        for status in (status.text for status in practice.statuses)
    ]


def practice_variables(practice: Practice) -> list[Record]:
    """The appointment statuses as `service_name` "Appointment Status" (`value` the code a status write
    sends, `description` its text), plus the schedule's time unit."""
    variables = [("Appointment Status", status.value, status.text) for status in practice.statuses]
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


def practices(practice: Practice) -> Record:
    """A `/practices` row; `is_main_office` is "True"/"False" (its format is undocumented, §9; the form of
    the providers' documented `is_hidden`)."""
    return {
        "href": practice.href(),
        **{f"{name}_href": practice.href(f"/{name}s") for name in ("patient", "provider", "appointment", "guarantor")},
        "transaction_href": practice.href("/transactions"),
        "practice_id": practice.practice_id,
        "name": practice.name,
        "description": "Main office" if practice.main_office else "",
        "address_line1": practice.address,
        "address_line2": "",
        "city": practice.city,
        "state": practice.state,
        "zipcode": practice.zipcode,
        "phone": practice.phone,
        "email": practice.email,
        "cust_id": practice.cust_id,
        "country": "USA",
        "national_provider_identifier": practice.npi,
        "website": practice.website,
        "is_main_office": str(practice.main_office),
    }


def writeback_details(practice: Practice) -> list[Record]:
    """The location's `/writeback_details` rows; `practice_id` in the documented "1-1" shape (§19, §23.2:
    the sandbox writes `{practice_id}-1`). `writeback_type` is kept for filtering, never returned."""
    return [
        {
            "href": practice.href(f"/writeback_details/{detail.category}/{detail.item}"),
            "practice_id": f"{practice.practice_id}-1",
            "practice_href": practice.href(),
            "description": detail.description,
            "cust_id": practice.cust_id,
            "category": detail.category,
            "item": detail.item,
            "writeback_type": detail.writeback_type,
        }
        for detail in details(practice.profile, practice.roster)
    ]


def patient_balances(practice: Practice, now: datetime) -> list[Record]:
    today = sikka_date(practice.local(now).date())
    return [
        balance_row(patient, practice.name, today, practice.debts.get(patient["patient_id"]))
        for patient in practice.patients.values()
    ]
