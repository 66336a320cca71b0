"""One practice's records (patients, appointments, providers, ...) and the rules that govern them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sandbox import fields
from sandbox.envelopes import Record
from sandbox.schedule import Interval, to_minutes

HREF_BASE = "https://api.sikkasoft.com/v4"
"""Item `href`s point at Sikka's host as in the documented examples; pagination links use the sandbox's."""

# Sikka reports Windows time-zone names; the sandbox needs the IANA zone behind them.
WINDOWS_ZONES = {
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
}

ORTHO_PMSES = frozenset({"orthotrac", "dolphin"})
"""PMSs (casefolded) with template slots in /appointments_available_slots and patient-update writebacks."""


@dataclass
class Ids:
    """Id sequences shared by all practices of a sandbox, so ids never collide across tenants."""

    patient: Iterator[int] = field(default_factory=lambda: itertools.count(10001))
    appointment: Iterator[int] = field(default_factory=lambda: itertools.count(70001))
    writeback: Iterator[int] = field(default_factory=lambda: itertools.count(275001))


def sikka_date(day: date) -> str:
    """A date as Sikka writes it: `2026-12-01T00:00:00`."""
    return f"{day.isoformat()}T00:00:00"


def is_cancel_status(status: str) -> bool:
    """Whether an appointment status means the appointment no longer takes its time."""
    folded = status.casefold()
    return "cancel" in folded or "broken" in folded


def span(appointment: Mapping[str, str]) -> Interval:
    start = to_minutes(appointment["time"])
    return start, start + int(appointment["length"])


@dataclass
class Practice:
    """A practice location (office_id + practice_id) and everything the sandbox stores for it."""

    office_id: str
    practice_id: str
    secret_key: str
    name: str
    pms: str
    pms_version: str
    time_zone: str
    state: str
    city: str
    address: str
    zipcode: str
    cust_id: str
    listed: bool
    authorized_at: datetime
    providers: list[Record] = field(default_factory=list)
    operatories: list[Record] = field(default_factory=list)
    schedule: list[Record] = field(default_factory=list)
    statuses: tuple[str, ...] = ()
    appointment_types: list[Record] = field(default_factory=list)
    patients: dict[str, Record] = field(default_factory=dict)
    appointments: dict[str, Record] = field(default_factory=dict)
    writeback_delay_seconds: float | None = None
    """Overrides SandboxConfig.writeback_delay_seconds for this practice."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(WINDOWS_ZONES[self.time_zone])

    def local(self, now: datetime) -> datetime:
        """`now` as a naive practice-local time, the way Sikka reports times."""
        return now.astimezone(self.zone).replace(tzinfo=None)

    def href(self, path: str = "") -> str:
        return f"{HREF_BASE}/practices/{self.practice_id}{path}"

    def provider(self, provider_id: str) -> Record | None:
        return next((row for row in self.providers if row["provider_id"] == provider_id), None)

    def operatory(self, operatory: str) -> Record | None:
        return next((row for row in self.operatories if row["operatory"] == operatory), None)

    def status_named(self, status: str) -> str | None:
        """The practice's spelling of an appointment status, matched case-insensitively."""
        return next((known for known in self.statuses if known.casefold() == status.casefold()), None)

    def conflict(self, appointment: Mapping[str, str], ignore: str = "") -> Record | None:
        """A non-cancelled appointment (other than `ignore`) overlapping `appointment`'s provider or chair."""
        start, end = span(appointment)
        for other in self.appointments.values():
            if (
                other["appointment_sr_no"] != ignore
                and other["date"] == appointment["date"]
                and other["cancelled"] != "True"
                and (
                    other["provider_id"] == appointment["provider_id"] or other["operatory"] == appointment["operatory"]
                )
            ):
                other_start, other_end = span(other)
                if other_start < end and start < other_end:
                    return other
        return None

    def make_patient(self, patient_id: str, values: Mapping[str, str]) -> Record:
        """A complete patient record (every get_all key) from the given values."""
        record = dict.fromkeys(fields.PATIENTS.keys, "")
        record.update(
            href=self.href(f"/patients/{patient_id}"),
            patient_id=patient_id,
            guarantor_id=patient_id,
            guarantor_patient_id=patient_id,
            practice_id=self.practice_id,
            practice_href=self.href(),
            appointment_href=self.href(f"/appointments?patient_id={patient_id}"),
            guarantor_href=self.href(f"/guarantors/{patient_id}"),
            primary_insurance_company_href=self.href("/insurance_companies/"),
            status="Active",
            country="USA",
            fee_no="0",
            cust_id=self.cust_id,
            ui_patient_id=patient_id,
            chart_number=patient_id,
        )
        record.update(values)
        record["provider_href"] = self.href(f"/providers/{record['provider_id']}")
        record["guarantor_first_name"] = record["firstname"]
        record["guarantor_last_name"] = record["lastname"]
        return record

    def make_appointment(self, sr_no: str, values: Mapping[str, str]) -> Record:
        """A complete appointment record (every get_all key) from the given values."""
        record = dict.fromkeys(fields.APPOINTMENTS.keys, "")
        record.update(
            {f"procedure_code{n}_{suffix}": "0" for n in range(1, 8) for suffix in ("amount", "time")},
            href=self.href(f"/appointments/{sr_no}"),
            appointment_sr_no=sr_no,
            practice_id=self.practice_id,
            practice_href=self.href(),
            amount="0.0000",
            cust_id=self.cust_id,
            status="Scheduled",
            is_companion="False",
            sooner_if_possible="False",
        )
        record.update(values)
        self.refresh_appointment(record)
        return record

    def refresh_appointment(self, record: Record) -> None:
        """Recompute an appointment's derived fields after its patient, provider or status changed."""
        patient = self.patients.get(record["patient_id"], {})
        provider = self.provider(record["provider_id"]) or {}
        name = f"{patient.get('firstname', '')} {patient.get('lastname', '')}".strip()
        record.update(
            patient_href=self.href(f"/patients/{record['patient_id']}"),
            provider_href=self.href(f"/providers/{record['provider_id']}"),
            guarantor_id=patient.get("guarantor_id", ""),
            guarantor_href=self.href(f"/guarantors/{patient['guarantor_id']}") if patient else "",
            patient_name=name,
            guarantor_name=name,
            hygienist=record["provider_id"] if provider.get("specialty") == "Hygienist" else "",
            cancelled=str(is_cancel_status(record["status"])),
            is_confirmed=str(record["status"].casefold() == "confirmed"),
        )
