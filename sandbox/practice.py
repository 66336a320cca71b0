"""One practice location (office_id + practice_id): its records and the rules that govern them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sandbox import fields
from sandbox.billing import Owed, Place
from sandbox.envelopes import Record
from sandbox.formats import to_minutes
from sandbox.pms import Pms, pms_named
from sandbox.roster import MAIN, VISITS, Roster, Visit
from sandbox.schedule import Interval

HREF_BASE = "https://api.sikkasoft.com/v4"
"""Item `href`s point at Sikka's host as in the documented examples; pagination links use the sandbox's."""

# Sikka reports the PMS server's Windows time-zone name; the sandbox needs the IANA zone behind it. The text is
# undocumented (§23.23): besides the usual US names, zones of US territories and neighbours, and (the least
# convenient reading) the localised name a Windows server set to Spanish reports, which no table maps.
WINDOWS_ZONES = {
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Aleutian Standard Time": "America/Adak",
    "SA Western Standard Time": "America/Puerto_Rico",
    "Mountain Standard Time (Mexico)": "America/Mazatlan",
    "Hora estándar del Pacífico": "America/Los_Angeles",
}

ORTHO_PMSES = frozenset({"orthotrac", "dolphin"})
"""PMSs (casefolded) with template slots in /appointments_available_slots and patient-update writebacks."""


class AppointmentStatus(NamedTuple):
    """A status as appointments show it (`text`, also `/appointment_statuses`) and the practice_variables
    code a status write must send (`value`, §15, §23.12): the two differ in form, as documented
    (`open.unconfirm`)."""

    text: str
    value: str

    @property
    def frees_time(self) -> bool:
        """Whether an appointment in this status no longer takes its time."""
        return is_cancel_status(self.text)


STATUSES = (
    AppointmentStatus("Scheduled", "open.unconfirm"),
    AppointmentStatus("Confirmed", "open.confirm"),
    AppointmentStatus("Arrived", "open.arrived"),
    AppointmentStatus("Complete", "complete.confirm"),
    AppointmentStatus("Broken", "broken.noshow"),
    AppointmentStatus("Canceled", "cancel.patient"),
)


@dataclass
class Ids:
    """Id sequences shared by all practices of a sandbox, so ids never collide across tenants."""

    patient: Iterator[int] = field(default_factory=lambda: itertools.count(10001))
    appointment: Iterator[int] = field(default_factory=lambda: itertools.count(70001))
    writeback: Iterator[int] = field(default_factory=lambda: itertools.count(275001))
    customer: Iterator[int] = field(default_factory=lambda: itertools.count(4101))
    insurance_company: Iterator[int] = field(default_factory=lambda: itertools.count(501, 10))


def is_cancel_status(status: str) -> bool:
    """Whether an appointment status (its text) means the appointment no longer takes its time."""
    folded = status.casefold()
    return "cancel" in folded or "broken" in folded


def span(appointment: Mapping[str, str]) -> Interval:
    start = to_minutes(appointment["time"])
    return start, start + int(appointment["length"])


@dataclass
class Practice:
    """A practice location and everything the sandbox stores for it."""

    office_id: str
    practice_id: str
    secret_key: str
    name: str
    pms: str
    """The PMS name (see sandbox.pms); everything PMS-specific is derived from it when used."""
    time_zone: str
    state: str
    city: str
    address: str
    zipcode: str
    cust_id: str
    listed: bool
    authorized_at: datetime
    pms_version: str = ""
    phone: str = ""
    email: str = ""
    website: str = ""
    npi: str = ""
    main_office: bool = True
    roster: Roster = MAIN
    providers: list[Record] = field(default_factory=list)
    users: list[Record] = field(default_factory=list)
    """The `/pms_users` rows."""
    operatories: list[Record] = field(default_factory=list)
    schedule: list[Record] = field(default_factory=list)
    statuses: tuple[AppointmentStatus, ...] = STATUSES
    patients: dict[str, Record] = field(default_factory=dict)
    appointments: dict[str, Record] = field(default_factory=dict)
    insurance_companies: list[Record] = field(default_factory=list)
    coverage: list[Record] = field(default_factory=list)
    debts: dict[str, Owed] = field(default_factory=dict)
    """What each account (by guarantor patient_id) owes; absent = nothing."""
    access: bool = True
    """API access for this location (`POST /practice_location`, §8)."""
    uploaded: bool = True
    """Whether the location's data has been uploaded; until then its reads answer API2010."""
    reloading: bool = False
    """Whether Sikka is reloading the location's data (`Data-Insert: in progress`)."""
    writeback_delay_seconds: float | None = None
    """Overrides SandboxConfig.writeback_delay_seconds for this practice."""
    spu_online: bool = True
    """Whether the practice's SPU (the on-premises sync utility) is running: while it is off, writebacks stay
    queued and `check_spu=true` submissions answer 412 API2017 (§12)."""

    @property
    def profile(self) -> Pms:
        return pms_named(self.pms)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(WINDOWS_ZONES[self.time_zone])

    @property
    def place(self) -> Place:
        return Place(self.practice_id, self.cust_id, self.href())

    def local(self, now: datetime) -> datetime:
        """`now` as a naive practice-local time, the way Sikka reports times."""
        return now.astimezone(self.zone).replace(tzinfo=None)

    def href(self, path: str = "") -> str:
        return f"{HREF_BASE}/practices/{self.practice_id}{path}"

    def provider(self, provider_id: str) -> Record | None:
        return next((row for row in self.providers if row["provider_id"] == provider_id), None)

    def operatory(self, operatory: str) -> Record | None:
        return next((row for row in self.operatories if row["operatory"] == operatory), None)

    def status_of(self, value: str) -> AppointmentStatus | None:
        """The status whose practice_variables `value` this is (exact match)."""
        return next((status for status in self.statuses if status.value == value), None)

    def visit_of(self, type_id: str) -> Visit | None:
        """The visit type whose writeback_details `item` this is."""
        return next((visit for visit in VISITS if self.roster.type_id(visit) == type_id), None)

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
        """A complete patient record (every get_all key) from the given values; its own guarantor by default."""
        record = dict.fromkeys(fields.PATIENTS.keys, "")
        record.update(
            href=self.href(f"/patients/{patient_id}"),
            patient_id=patient_id,
            guarantor_id=patient_id,
            practice_id=self.practice_id,
            practice_href=self.href(),
            appointment_href=self.href(f"/appointments?patient_id={patient_id}"),
            status="Active",
            country="USA",
            fee_no="0",
            cust_id=self.cust_id,
            ui_patient_id=patient_id,
            chart_number=patient_id,
        )
        record.update(values)
        guarantor = self.patients.get(record["guarantor_id"], record)
        record.update(
            provider_href=self.href(f"/providers/{record['provider_id']}"),
            guarantor_href=self.href(f"/guarantors/{record['guarantor_id']}"),
            guarantor_patient_id=record["guarantor_id"],
            guarantor_first_name=guarantor["firstname"],
            guarantor_last_name=guarantor["lastname"],
        )
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
        guarantor = self.patients.get(patient.get("guarantor_id", ""), patient)
        provider = self.provider(record["provider_id"]) or {}
        record.update(
            patient_href=self.href(f"/patients/{record['patient_id']}"),
            provider_href=self.href(f"/providers/{record['provider_id']}"),
            guarantor_id=patient.get("guarantor_id", ""),
            guarantor_href=self.href(f"/guarantors/{patient['guarantor_id']}") if patient else "",
            patient_name=_name(patient),
            guarantor_name=_name(guarantor),
            hygienist=record["provider_id"] if provider.get("specialty") == "Hygienist" else "",
            cancelled=str(is_cancel_status(record["status"])),
            is_confirmed=str(record["status"].casefold() == "confirmed"),
        )


def _name(person: Mapping[str, str]) -> str:
    return f"{person.get('firstname', '')} {person.get('lastname', '')}".strip()
