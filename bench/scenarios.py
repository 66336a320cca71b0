"""What is measured: each tool with realistic arguments, paired with its floor (the same Sikka requests, in the
same order and concurrency as the tool makes them, sent directly with httpx)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import anyio

from bench.client import ToolClient
from bench.measure import Call, Meter, ToolRecord
from bench.upstream import Admin, Item, Sikka
from server.phones import pms_format, stored_forms, to_e164
from server.sikka import Balance
from server.sikka.gateway import SEARCH_PAGE

READ_DAYS_AHEAD = timedelta(days=3)  # availability is checked on the busy days of the coming weeks
READ_DAYS = 10
WRITE_DAYS_AHEAD = timedelta(days=35)  # bookings go past the demo schedule, onto empty days
CALL_DAYS_AHEAD = timedelta(days=80)  # the realistic profile's phone calls book after the write samples' days
MAX_DAYS_SEARCHED = 120
UPCOMING_DAYS = 365  # getPatientInfo's window for upcoming appointments
NEW_PATIENT_BIRTHDATE = "1991-03-04"
SLOTS_PER_WRITE_SAMPLE = 4  # the tool's booking and move targets, and the floor's


@dataclass(frozen=True)
class Patient:
    patient_id: str
    first_name: str
    last_name: str
    birthdate: str  # YYYY-MM-DD
    cell: str
    guarantor_id: str

    @property
    def dependent(self) -> bool:
        return self.guarantor_id not in ("", self.patient_id)

    @property
    def spoken_phone(self) -> str:
        digits = "".join(ch for ch in self.cell if ch.isdigit())[-10:]
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"

    @property
    def identity(self) -> dict[str, str]:
        name = f"{self.first_name} {self.last_name}"
        return {"patientId": self.patient_id, "dateOfBirth": self.birthdate, "name": name}


def spelled(number: str | int) -> str:
    """A number's digits as letters ("307" -> "dah"), for unique names that are still names."""
    return "".join(chr(ord("a") + int(digit)) for digit in str(number))


@dataclass
class Fixtures:
    """Demo data the samples rotate through, and this run's id (unique names, phones and call ids)."""

    patients: list[Patient]
    cancel_status: str
    run: str
    read_days: list[date] = field(default_factory=list)
    write_slots: list[list[dict[str, Any]]] = field(default_factory=list)  # per write sample, one empty day's
    call_days: list[date] = field(default_factory=list)  # per phone call of the realistic profile, a day to book

    @classmethod
    async def load(cls, admin: Admin, sikka: Sikka) -> Fixtures:
        records = await admin.records("patients")
        cells = Counter(r["cell"] for r in records)
        patients = [
            Patient(r["patient_id"], r["firstname"], r["lastname"], r["birthdate"][:10], r["cell"], r["guarantor_id"])
            for r in records
            if r["status"] == "Active" and r["cell"] and cells[r["cell"]] == 1
        ]
        statuses = await sikka.items("practice_variables", {"service_name": "Appointment Status"})
        cancel = next(s["value"] for s in statuses if "cancel" in s["description"].lower())  # what writes send
        return cls(patients, cancel, run=f"{int(time.time()) % 100_000:05d}")

    async def find_open_days(self, tools: ToolClient, write_samples: int, calls: int = 0) -> None:
        """Days with openings, found with checkAvailability (this also warms it up; not measured)."""
        today = date.today()
        self.read_days = [day for day, _ in await self._open_days(tools, today + READ_DAYS_AHEAD, READ_DAYS, 1)]
        if write_samples:
            writes = await self._open_days(tools, today + WRITE_DAYS_AHEAD, write_samples, SLOTS_PER_WRITE_SAMPLE)
            self.write_slots = [slots for _, slots in writes]
        if calls:
            self.call_days = [day for day, _ in await self._open_days(tools, today + CALL_DAYS_AHEAD, calls, 1)]

    async def _open_days(
        self, tools: ToolClient, first: date, count: int, min_slots: int
    ) -> list[tuple[date, list[dict[str, Any]]]]:
        found: list[tuple[date, list[dict[str, Any]]]] = []
        for offset in range(MAX_DAYS_SEARCHED):
            day = first + timedelta(days=offset)
            result = await tools.call(
                "checkAvailability", {"date": day.isoformat()}, self.call_id("setup", day.toordinal())
            )
            slots = list(result.get("slots") or [])
            if len(slots) >= min_slots:
                found.append((day, slots))
            if len(found) == count:
                return found
        raise RuntimeError(f"found only {len(found)} days with {min_slots}+ openings after {first}")

    def patient(self, index: int) -> Patient:
        return self.patients[index % len(self.patients)]

    def read_day(self, index: int) -> date:
        return self.read_days[index % len(self.read_days)]

    def call_id(self, label: str, index: int) -> str:
        return f"bench-{self.run}-{label}-{index}"

    @property
    def exchange(self) -> str:
        """This run's phone exchange for the patients it registers: 200–999, as a valid US number needs (a run
        id ending in 0xx or 1xx made an invalid number, which the server and the floor refuse)."""
        return str(200 + int(self.run) % 800)


async def phone_lookup(sikka: Sikka, e164: str) -> list[Item]:
    """The gateway's phone lookup: `search` in every stored form of the number at once."""
    results: list[Item] = []

    async def search(form: str) -> None:
        results.extend(await sikka.patients({"search": form}, SEARCH_PAGE))

    async with anyio.create_task_group() as group:
        for form in stored_forms(e164):
            group.start_soon(search, form)
    return results


async def nothing() -> None:
    """The floor of a tool that answers from the server's caches: no Sikka request."""


async def at_once(*reads: Awaitable[object]) -> None:
    """Send independent requests at the same time, as the tools send what they read beside the identity check."""

    async def send(read: Awaitable[object]) -> None:
        await read

    async with anyio.create_task_group() as group:
        for read in reads:
            group.start_soon(send, read)


def mix_call(fixtures: Fixtures, label: str) -> Callable[[int], tuple[Call, str]]:
    """`mix(n)` for `measure.throughput`: rotate through the read mix with varied patients and days."""

    def mix(n: int) -> tuple[Call, str]:
        patient, day = fixtures.patient(n), fixtures.read_day(n)
        calls: list[Call] = [
            ("searchPatients", {"phone": patient.spoken_phone}),
            ("checkAvailability", {"date": day.isoformat()}),
            ("getPatientInfo", patient.identity),
        ]
        return calls[n % len(calls)], fixtures.call_id(label, n)

    return mix


# --- reads ------------------------------------------------------------------------------------------


async def search_by_phone(meter: Meter, fixtures: Fixtures, samples: int) -> ToolRecord:
    record = ToolRecord("searchPatients (phone)")
    for i in range(samples):
        patient = fixtures.patient(i)
        floor = partial(phone_lookup, meter.sikka, to_e164(patient.cell) or "")
        call: Call = ("searchPatients", {"phone": patient.spoken_phone})
        await meter.pair(i, record, call, fixtures.call_id("sp", i), floor)
    return record


async def search_by_name(meter: Meter, fixtures: Fixtures, samples: int) -> ToolRecord:
    record = ToolRecord("searchPatients (name)")
    for i in range(samples):
        patient = fixtures.patient(i)
        params = {"firstname": patient.first_name, "lastname": patient.last_name}
        call: Call = ("searchPatients", {"name": f"{patient.first_name} {patient.last_name}"})
        await meter.pair(i, record, call, fixtures.call_id("sn", i), partial(meter.sikka.patients, params, SEARCH_PAGE))
    return record


async def get_patient_info(meter: Meter, fixtures: Fixtures, samples: int) -> ToolRecord:
    record = ToolRecord("getPatientInfo")
    sikka = meter.sikka

    async def floor(patient: Patient) -> None:
        today = datetime.now(UTC).date()
        await at_once(
            sikka.patient(patient.patient_id),
            sikka.appointments(
                today - timedelta(days=1), today + timedelta(days=UPCOMING_DAYS), patient_id=patient.patient_id
            ),
        )

    for i in range(samples):
        patient = fixtures.patient(i)
        await meter.pair(
            i, record, ("getPatientInfo", patient.identity), fixtures.call_id("gp", i), partial(floor, patient)
        )
    return record


async def check_availability(meter: Meter, fixtures: Fixtures, samples: int) -> ToolRecord:
    record = ToolRecord("checkAvailability")
    for i in range(samples):
        day = fixtures.read_day(i)
        call: Call = ("checkAvailability", {"date": day.isoformat()})
        await meter.pair(i, record, call, fixtures.call_id("ca", i), partial(meter.sikka.appointments, day, day))
    return record


async def update_patient(meter: Meter, fixtures: Fixtures, samples: int) -> ToolRecord:
    """A contact change the demo PMS (Dentrix) cannot take: recorded, encrypted, for the staff."""
    record = ToolRecord("updatePatient")
    for i in range(samples):
        patient = fixtures.patient(i)
        call: Call = ("updatePatient", {**patient.identity, "email": f"bench.{fixtures.run}.{i}@example.org"})
        await meter.pair(i, record, call, fixtures.call_id("up", i), partial(meter.sikka.patient, patient.patient_id))
    return record


async def practice_questions(meter: Meter, fixtures: Fixtures, samples: int) -> list[ToolRecord]:
    """getPracticeInfo, getProviders and checkInsuranceAccepted: answered from the practice's cached metadata and
    carrier list, so their floor is no request at all (the whole time is the server's)."""
    records = []
    for label, call in (
        ("getPracticeInfo", ("getPracticeInfo", {})),
        ("getProviders", ("getProviders", {})),
        ("checkInsuranceAccepted", ("checkInsuranceAccepted", {"carrier": "Delta Dental"})),
    ):
        record = ToolRecord(label)
        for i in range(samples):
            await meter.pair(i, record, call, fixtures.call_id(label, i), nothing)
        records.append(record)
    return records


async def get_patient_balance(meter: Meter, fixtures: Fixtures, samples: int) -> ToolRecord:
    """The identity check's read and the patient's balance row at once; for a dependent whose own row carries no
    amounts, then the guarantor's."""
    record = ToolRecord("getPatientBalance")
    sikka = meter.sikka
    own: list[Item] = []

    async def floor(patient: Patient) -> None:
        own.clear()

        async def own_row() -> None:
            own.extend(await sikka.balance(patient.patient_id))

        await at_once(sikka.patient(patient.patient_id), own_row())
        rows = [row for item in own if (row := Balance.from_item(item)) is not None]
        if patient.dependent and all(row.empty for row in rows):
            await sikka.balance(patient.guarantor_id)

    for i in range(samples):
        patient = fixtures.patient(i)
        call: Call = ("getPatientBalance", patient.identity)
        await meter.pair(i, record, call, fixtures.call_id("gb", i), partial(floor, patient))
    return record


async def get_patient_insurance(meter: Meter, fixtures: Fixtures, samples: int) -> ToolRecord:
    """The identity check's read with the plans on file; carriers and the coverage table come from the cache."""
    record = ToolRecord("getPatientInsurance")
    for i in range(samples):
        patient = fixtures.patient(i)
        call: Call = ("getPatientInsurance", {**patient.identity, "category": "crowns"})
        floor = partial(meter.sikka.patient, patient.patient_id, insurance=True)
        await meter.pair(i, record, call, fixtures.call_id("gi", i), floor)
    return record


# --- writes -----------------------------------------------------------------------------------------


@dataclass
class WriteRecords:
    book: ToolRecord
    reschedule: ToolRecord
    cancel: ToolRecord
    create: ToolRecord

    def all(self) -> list[ToolRecord]:
        return [self.book, self.reschedule, self.cancel, self.create]


def appointment_body(slot: dict[str, Any]) -> Item:
    """The body the gateway sends for a slot from checkAvailability."""
    start = datetime.fromisoformat(slot["startTime"])
    return {
        "practice_id": "1",
        "provider_id": slot["providerId"],
        "date": start.date().isoformat(),
        "time": start.strftime("%H:%M"),
        "length": "30",
        "operatory": slot["operatory"],
    }


class WriteFloor:
    """The Sikka requests of each write tool, for the floor's own appointments and patients."""

    def __init__(self, sikka: Sikka, fixtures: Fixtures) -> None:
        self.sikka = sikka
        self.fixtures = fixtures

    async def book(self, patient: Patient, slot: dict[str, Any]) -> str:
        day = datetime.fromisoformat(slot["startTime"]).date()
        await at_once(self.sikka.patient(patient.patient_id), self.sikka.appointments(day, day))
        body = {"patient_id": patient.patient_id, **appointment_body(slot), "description": "Appointment"}
        return await self.sikka.write("POST", "appointment", body)

    async def reschedule(self, patient: Patient, appointment_id: str, slot: dict[str, Any]) -> None:
        day = datetime.fromisoformat(slot["startTime"]).date()
        await at_once(
            self.sikka.patient(patient.patient_id),
            self.sikka.appointment(appointment_id),
            self.sikka.appointments(day, day),
        )
        await self.sikka.write("PUT", f"appointments/{appointment_id}", appointment_body(slot))

    async def cancel(self, patient: Patient, appointment_id: str) -> None:
        await at_once(self.sikka.patient(patient.patient_id), self.sikka.appointment(appointment_id))
        body = {
            "op": "replace",
            "path": "/appointment_status",
            "value": self.fixtures.cancel_status,
            "practice_id": "1",
        }
        await self.sikka.write("PATCH", f"appointments/{appointment_id}", body)

    async def create(self, first: str, last: str, phone: str, provider_id: str) -> None:
        e164 = to_e164(phone) or ""
        await at_once(  # the duplicate checks
            self.sikka.patients({"firstname": first, "lastname": last}, SEARCH_PAGE), phone_lookup(self.sikka, e164)
        )
        body = {
            "firstname": first,
            "lastname": last,
            "birthdate": NEW_PATIENT_BIRTHDATE,
            "cell": pms_format(e164),
            "provider_id": provider_id,
            "practice_id": "1",
        }
        await self.sikka.write("POST", "patient", body)


async def writes(meter: Meter, fixtures: Fixtures, samples: int) -> WriteRecords:
    """Per sample, one phone call's writes on an empty day: book, move, cancel, and register a new patient;
    the floor does the same to its own appointment and patient."""
    records = WriteRecords(
        ToolRecord("bookAppointment"),
        ToolRecord("rescheduleAppointment"),
        ToolRecord("cancelAppointment"),
        ToolRecord("createPatient"),
    )
    floor = WriteFloor(meter.sikka, fixtures)
    patient = fixtures.patient(0)
    for i, slots in enumerate(fixtures.write_slots[:samples]):
        tool_slot, floor_slot, tool_move, floor_move = slots[:SLOTS_PER_WRITE_SAMPLE]
        call_id = fixtures.call_id("w", i)
        book: Call = (
            "bookAppointment",
            {**patient.identity, "startTime": tool_slot["startTime"], "providerId": tool_slot["providerId"]},
        )
        booked, floor_id = await meter.pair(i, records.book, book, call_id, partial(floor.book, patient, floor_slot))
        if booked is not None and booked.get("appointmentId"):
            appointment = {**patient.identity, "appointmentId": booked["appointmentId"]}
            move: Call = (
                "rescheduleAppointment",
                {**appointment, "newStartTime": tool_move["startTime"], "providerId": tool_move["providerId"]},
            )
            await meter.pair(
                i, records.reschedule, move, call_id, partial(floor.reschedule, patient, floor_id, floor_move)
            )
            cancel: Call = ("cancelAppointment", appointment)
            await meter.pair(i, records.cancel, cancel, call_id, partial(floor.cancel, patient, floor_id))
        first, phone = "Bench", f"917-{fixtures.exchange}-{i:04d}"
        create: Call = (
            "createPatient",
            {
                "firstName": first,
                "lastName": f"Tool{spelled(fixtures.run)}x{spelled(i)}",  # names are letters only
                "dateOfBirth": NEW_PATIENT_BIRTHDATE,
                "phone": phone,
            },
        )
        floor_phone = f"917-{fixtures.exchange}-{5000 + i:04d}"
        await meter.pair(
            i,
            records.create,
            create,
            call_id,
            partial(floor.create, first, f"Floor{fixtures.run}x{i}", floor_phone, tool_slot["providerId"]),
        )
    return records
