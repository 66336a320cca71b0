"""Asynchronous writebacks: a submission is checked (sandbox.rules), queued, then applied or failed once its
delay has passed.

Nothing runs in the background: the state completes every due writeback (in due-time order, ties in
submission order) whenever a request arrives or the state is inspected. A practice takes a kind of
writeback only if its PMS has the matching `supported_pmses` flag (PUT /appointments: new_appointment;
PATCH /appointments: appointment_status) and, for PATCH /patient, is OrthoTrac or Dolphin (§17).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sandbox import rules
from sandbox.details import details
from sandbox.envelopes import Record
from sandbox.formats import sikka_date
from sandbox.pms import ORTHOTRAC, Pms
from sandbox.practice import HREF_BASE, ORTHO_PMSES, Ids, Practice
from sandbox.roster import VISITS

SLOT_TAKEN = "Appointment already scheduled for this time slot"

_PATIENT_FIELDS = (
    "firstname", "lastname", "middlename", "preferred_name", "birthdate", "gender", "email", "cell",
    "homephone", "workphone", "other_phone", "address_line1", "address_line2", "city", "state", "zipcode",
    "provider_id", "guarantor_id", "primary_relationship",
)  # fmt: skip


class WritebackFailed(Exception):
    """The PMS rejected the writeback; the message becomes its `result`."""


def text(payload: Mapping[str, Any], name: str) -> str:
    """A payload value as a stripped string ("" when absent or null)."""
    value = payload.get(name)
    return "" if value is None else str(value).strip()


@dataclass(frozen=True)
class Kind:
    """A kind of writeback: how it is submitted, checked, reported and applied."""

    endpoint: str
    method: str
    api: str
    receipt: str
    success: str
    apply: Callable[[Practice, Writeback, Ids], str]
    contract: Callable[[Practice], rules.Contract]
    specific: frozenset[str]
    """The fields only some PMSs take (refused where the contract lacks them)."""
    supported: Callable[[Pms], bool]

    def validate(self, practice: Practice, payload: Mapping[str, Any], target: str, now: datetime) -> dict[str, str]:
        """The values to apply; raises the error Sikka answers at once (sandbox.rules)."""
        context = rules.Context(practice, practice.local(now).date(), now, target)
        return rules.enforce(self.contract(practice), self.specific, context, payload)


@dataclass
class Writeback:
    """One submitted writeback and, once completed, its outcome."""

    id: int
    kind: Kind
    office_id: str
    practice_id: str
    payload: dict[str, Any]
    """The request body as sent (`payload_body`)."""
    values: dict[str, str]
    """The checked values to apply."""
    target: str
    """The appointment_sr_no or patient_id from the path of a PUT/PATCH; "" for a POST."""
    request_time: datetime
    due: datetime
    failure: str | None = None
    """A failure forced by the fault injector."""
    request_key: str = ""
    """The request_key it was submitted with (`/writebacks` shows it partly masked)."""
    status: str = "Pending"
    has_error: bool = False
    completed_time: datetime | None = None
    result: str = ""
    created_id: str = ""

    @property
    def is_completed(self) -> bool:
        return self.completed_time is not None

    def complete(self, practice: Practice, ids: Ids) -> None:
        """Apply the writeback to its practice, recording success or the failure message."""
        self.completed_time = practice.local(self.due)
        try:
            if self.failure is not None:
                raise WritebackFailed(self.failure)
            self.created_id = self.kind.apply(practice, self, ids)
        except WritebackFailed as failed:
            self.status, self.has_error, self.result = "Completed", True, str(failed)
        else:
            self.status, self.result = "Success", self.kind.success

    def status_row(self) -> Record:
        """The item `/writeback_status` returns."""
        on_appointment = self.kind.endpoint == "appointments"
        return {
            "id": str(self.id),
            "office_id": self.office_id,
            "method": self.kind.method,
            "api": self.kind.api,
            "payload_body": json.dumps(self.payload),
            "appointment_sr_no": self.target if on_appointment else "",
            "request_time": f"{self.request_time:%Y-%m-%d %H:%M:%S}",
            "is_completed": str(self.is_completed),
            "has_error": str(self.has_error),
            "completed_time": f"{self.completed_time:%Y-%m-%d %H:%M:%S}" if self.completed_time else "",
            "result": self.result,
            "practice_id": self.practice_id,
            "status": self.status,
            "patient_id": text(self.payload, "patient_id") or ("" if on_appointment else self.target),
            "created_id": self.created_id,
        }

    def form_body(self) -> str:
        """The original call as `/writebacks` documents it (§20): form-encoded but not escaped, the request_key
        partly masked first, then the body's fields as sent, then `apiname` and the path's `id`."""
        masked = f"{self.request_key[:4]}{'*' * max(0, len(self.request_key) - 4)}"
        pairs = [("request_key", masked), *self.payload.items(), ("apiname", f"{self.kind.method} {self.kind.api}")]
        if self.target:
            pairs.append(("id", self.target))
        return "&".join(f"{name}={value}" for name, value in pairs)

    def listing_row(self) -> Record:
        """The item `/writebacks` returns."""
        completed = self.completed_time
        duration = str(int((completed - self.request_time).total_seconds())) if completed else ""
        return {
            "href": f"{HREF_BASE}/writebacks/{self.id}",
            "description": "",
            "id": str(self.id),
            "result": "failed" if self.has_error else "completed" if completed else "pending",
            "office_id": self.office_id,
            "method": self.kind.method,
            "completed_time": f"{completed:%Y-%m-%dT%H:%M:%S}" if completed else "",
            "api_name": self.kind.api,
            "api_request_body": self.form_body(),
            "command_time": f"{self.request_time:%Y-%m-%dT%H:%M:%S}",
            "duration_in_second": duration,
        }


class WritebackQueue:
    """Every writeback of a sandbox, by id, with the pending ones in a heap by due time."""

    def __init__(self) -> None:
        self._all: dict[int, Writeback] = {}
        self._pending: list[tuple[datetime, int]] = []
        self._held: list[int] = []
        """Due writebacks of practices whose SPU is off, in submission order."""

    def __iter__(self) -> Iterator[Writeback]:
        return iter(self._all.values())

    def add(self, writeback: Writeback) -> None:
        self._all[writeback.id] = writeback
        heapq.heappush(self._pending, (writeback.due, writeback.id))

    def get(self, writeback_id: int) -> Writeback | None:
        return self._all.get(writeback_id)

    def delete(self, writeback_id: int) -> None:
        """Forget a writeback; a pending one is then never applied."""
        del self._all[writeback_id]

    def hold(self, writeback: Writeback) -> None:
        """Keep a due writeback queued until its practice's SPU is back (`release`)."""
        self._held.append(writeback.id)

    def release(self, office_id: str, practice_id: str, now: datetime, delay_seconds: float) -> None:
        """The practice's SPU is back: its held writebacks fall due after `delay_seconds`."""
        held = [self._all[i] for i in self._held if i in self._all]
        mine = [w for w in held if (w.office_id, w.practice_id) == (office_id, practice_id)]
        self._held = [w.id for w in held if w not in mine]
        for writeback in mine:
            writeback.due = now + timedelta(seconds=delay_seconds)
            heapq.heappush(self._pending, (writeback.due, writeback.id))

    def pop_due(self, now: datetime) -> Iterator[Writeback]:
        """The pending writebacks due by `now`, in due order, each removed from the heap."""
        while self._pending and self._pending[0][0] <= now:
            _, writeback_id = heapq.heappop(self._pending)
            if writeback_id in self._all:
                yield self._all[writeback_id]


def _formatted(values: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The given fields that are present, dates in Sikka's stored form."""
    return {
        name: sikka_date(date.fromisoformat(values[name])) if name in ("date", "birthdate") else values[name]
        for name in names
        if name in values
    }


def _book(practice: Practice, appointment: Record, ignore: str = "") -> None:
    if practice.conflict(appointment, ignore=ignore) is not None:
        raise WritebackFailed(SLOT_TAKEN)


def _status_text(practice: Practice, value: str, default: str) -> str:
    status = practice.status_of(value)
    return status.text if status is not None else default


def _new_appointment(practice: Practice, writeback: Writeback, ids: Ids) -> str:
    values = writeback.values
    today = sikka_date(writeback.request_time.date())
    record = _formatted(values, ("patient_id", "date", "time", "length", "provider_id", "operatory", "description"))
    visit = practice.visit_of(values.get("type", "")) or (VISITS[0] if practice.profile.key == ORTHOTRAC else None)
    record.update(
        type=visit.value if visit else "",
        note=values.get("note", ""),
        status=_status_text(practice, values.get("status", ""), "Scheduled"),
        appointment_made_date=today,
        last_changed_date=today,
        procedure_codes=values.get("procedure_codes", ""),
    )
    _book(practice, {**record, "appointment_sr_no": ""})
    if "patient_id" not in record:
        record["patient_id"] = _add_patient(practice, values, ids, today)
    sr_no = str(next(ids.appointment))
    practice.appointments[sr_no] = practice.make_appointment(sr_no, record)
    return sr_no


def _reschedule(practice: Practice, writeback: Writeback, ids: Ids) -> str:
    appointment = practice.appointments[writeback.target]
    moved = {
        **appointment,
        **_formatted(writeback.values, ("provider_id", "operatory", "date", "time", "length", "description")),
        "status": _status_text(practice, writeback.values.get("status", ""), appointment["status"]),
        "last_changed_date": sikka_date(writeback.request_time.date()),
    }
    _book(practice, moved, ignore=writeback.target)
    appointment.update(moved)
    practice.refresh_appointment(appointment)
    return writeback.target


def _change_status(practice: Practice, writeback: Writeback, ids: Ids) -> str:
    appointment = practice.appointments[writeback.target]
    status = practice.status_of(writeback.values["value"])
    assert status is not None, "checked on submission"
    today = sikka_date(writeback.request_time.date())
    appointment.update(status=status.text, last_changed_date=today)
    if status.frees_time:
        appointment["cancelled_date"] = today
    if status.text.casefold() == "confirmed":
        appointment["confirmed_on_date"] = today
    practice.refresh_appointment(appointment)
    return writeback.target


def _gender(practice: Practice, value: str) -> str:
    """A gender code as the patient record shows it ("male", or a Sex/Gender item, → "Male")."""
    if value in ("male", "female", "unknown"):
        return value.capitalize()
    rows = details(practice.profile, practice.roster)
    return next(row.description for row in rows if row.category in ("Sex", "Gender") and row.item == value)


def _patient_values(practice: Practice, values: Mapping[str, str]) -> dict[str, str]:
    record = _formatted(values, _PATIENT_FIELDS)
    if "gender" in record:
        record["gender"] = _gender(practice, record["gender"])
    return record


def _add_patient(practice: Practice, values: Mapping[str, str], ids: Ids, today: str) -> str:
    patient_id = str(next(ids.patient))
    record = {**_patient_values(practice, values), "created_date": today, "first_visit": today}
    if "phone" in values:
        record["cell"] = values["phone"]
    practice.patients[patient_id] = practice.make_patient(patient_id, record)
    return patient_id


def _new_patient(practice: Practice, writeback: Writeback, ids: Ids) -> str:
    return _add_patient(practice, writeback.values, ids, sikka_date(writeback.request_time.date()))


def _update_patient(practice: Practice, writeback: Writeback, ids: Ids) -> str:
    practice.patients[writeback.target].update(_patient_values(practice, writeback.values))
    return writeback.target


def _flag(name: str) -> Callable[[Pms], bool]:
    return lambda pms: pms.supports(name)


NEW_APPOINTMENT = Kind(
    endpoint="appointment",
    method="POST",
    api="appointment",
    receipt="API2016",
    success="New Appointment inserted successfully",
    apply=_new_appointment,
    contract=lambda practice: rules.new_appointment(practice.profile.key),
    specific=rules.APPOINTMENT_SPECIFIC,
    supported=_flag("new_appointment"),
)
RESCHEDULE = Kind(
    endpoint="appointments",
    method="PUT",
    api="appointments",
    receipt="API0007",
    success="Appointment updated successfully",
    apply=_reschedule,
    contract=rules.reschedule,
    specific=rules.RESCHEDULE_SPECIFIC,
    supported=_flag("new_appointment"),
)
STATUS_CHANGE = Kind(
    endpoint="appointments",
    method="PATCH",
    api="appointments",
    receipt="API0007",
    success="Appointment status updated successfully",
    apply=_change_status,
    contract=lambda practice: rules.status_change(practice.profile.key),
    specific=rules.STATUS_SPECIFIC,
    supported=_flag("appointment_status"),
)
NEW_PATIENT = Kind(
    endpoint="patient",
    method="POST",
    api="patients",
    receipt="API2016",
    success="New Patient inserted successfully",
    apply=_new_patient,
    contract=lambda practice: rules.new_patient(practice.profile.key),
    specific=rules.PATIENT_SPECIFIC,
    supported=_flag("new_patient"),
)
PATIENT_UPDATE = Kind(
    endpoint="patient",
    method="PATCH",
    api="patient",
    receipt="API0011",
    success="Patient updated successfully",
    apply=_update_patient,
    contract=lambda practice: rules.patient_update(practice.profile.key),
    specific=rules.PATIENT_UPDATE_SPECIFIC,
    supported=lambda pms: pms.key in ORTHO_PMSES,
)
