"""Asynchronous writebacks: a submission is queued, then applied or failed once its delay has passed.

Nothing runs in the background: the state completes every due writeback (in due-time order, ties in
submission order) whenever a request arrives or the state is inspected.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sandbox.envelopes import Record, SikkaError, invalid
from sandbox.practice import HREF_BASE, ORTHO_PMSES, Ids, Practice, is_cancel_status, sikka_date

SLOT_TAKEN = "Appointment already scheduled for this time slot"

_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PATIENT_FIELDS = (
    "firstname", "lastname", "middlename", "preferred_name", "birthdate", "gender", "email", "cell",
    "homephone", "workphone", "address_line1", "address_line2", "city", "state", "zipcode", "provider_id",
)  # fmt: skip
_LOCKED_PATIENT_FIELDS = frozenset(
    {"email", "cell", "homephone", "workphone", "address_line1", "address_line2", "city", "state", "zipcode"}
)


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
    required: tuple[str, ...]
    receipt: str
    success: str
    apply: Callable[[Practice, Writeback, Ids], str]
    check: Callable[[Mapping[str, Any]], None] = lambda payload: None
    only_for_pmses: frozenset[str] | None = None

    def validate(self, payload: Mapping[str, Any]) -> None:
        """Raise the immediate 400 Sikka answers for a missing or malformed parameter."""
        missing = [name for name in self.required if not text(payload, name)]
        if missing:
            raise SikkaError("API1020", long_message=f"Missing parameter(s): {', '.join(missing)}.")
        self.check(payload)


@dataclass
class Writeback:
    """One submitted writeback and, once completed, its outcome."""

    id: int
    kind: Kind
    office_id: str
    practice_id: str
    payload: dict[str, Any]
    target: str
    """The appointment_sr_no or patient_id from the path of a PUT/PATCH; "" for a POST."""
    request_time: datetime
    due: datetime
    failure: str | None = None
    """A failure forced by the fault injector."""
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
            "api_request_body": "&".join(f"{name}={value}" for name, value in self.payload.items()),
            "command_time": f"{self.request_time:%Y-%m-%dT%H:%M:%S}",
            "duration_in_second": duration,
        }


class WritebackQueue:
    """Every writeback of a sandbox, by id, with the pending ones in a heap by due time."""

    def __init__(self) -> None:
        self._all: dict[int, Writeback] = {}
        self._pending: list[tuple[datetime, int]] = []

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

    def pop_due(self, now: datetime) -> Iterator[Writeback]:
        """The pending writebacks due by `now`, in due order, each removed from the heap."""
        while self._pending and self._pending[0][0] <= now:
            _, writeback_id = heapq.heappop(self._pending)
            if writeback_id in self._all:
                yield self._all[writeback_id]


def _date(value: str) -> str:
    if not _DATE.fullmatch(value):
        raise invalid(f"date must be yyyy-mm-dd: {value}")
    try:
        return sikka_date(date.fromisoformat(value))
    except ValueError:
        raise invalid(f"date must be yyyy-mm-dd: {value}") from None


def _time(value: str) -> str:
    match = _TIME.fullmatch(value)
    if match is None:
        raise invalid(f"time must be HH:mm: {value}")
    return f"{int(match[1]):02d}:{match[2]}"


def _length(value: str) -> str:
    if not value.isdigit() or int(value) == 0:
        raise invalid(f"length must be a positive number of minutes: {value}")
    return str(int(value))


_FORMATS: dict[str, Callable[[str], str]] = {
    "date": _date,
    "time": _time,
    "length": _length,
    "birthdate": _date,
}


def _formatted(payload: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The given payload fields that are present, in Sikka's stored format."""
    values = {name: text(payload, name) for name in names}
    return {name: _FORMATS.get(name, str)(value) for name, value in values.items() if value}


def _check_formats(payload: Mapping[str, Any]) -> None:
    _formatted(payload, tuple(_FORMATS))


def _check_reschedule(payload: Mapping[str, Any]) -> None:
    if not any(text(payload, name) for name in ("date", "time", "length", "operatory")):
        raise SikkaError("API1020", long_message="Provide at least one of date, time, length, operatory.")
    _check_formats(payload)


def _check_status_patch(payload: Mapping[str, Any]) -> None:
    if text(payload, "op") != "replace" or text(payload, "path") != "/appointment_status":
        raise invalid('Expected "op": "replace" and "path": "/appointment_status".')


def _appointment(practice: Practice, sr_no: str) -> Record:
    appointment = practice.appointments.get(sr_no)
    if appointment is None:
        raise WritebackFailed("Appointment not found")
    return appointment


def _check_resources(practice: Practice, appointment: Mapping[str, str]) -> None:
    if practice.provider(appointment["provider_id"]) is None:
        raise WritebackFailed("Provider not found")
    if practice.operatory(appointment["operatory"]) is None:
        raise WritebackFailed("Operatory not found")
    if practice.conflict(appointment, ignore=appointment.get("appointment_sr_no", "")) is not None:
        raise WritebackFailed(SLOT_TAKEN)


def _new_appointment(practice: Practice, writeback: Writeback, ids: Ids) -> str:
    if text(writeback.payload, "patient_id") not in practice.patients:
        raise WritebackFailed("Patient not found")
    today = sikka_date(writeback.request_time.date())
    values = _formatted(writeback.payload, (*APPOINTMENT_FIELDS, "type", "note"))
    values.update(appointment_made_date=today, last_changed_date=today, cancelled="False")
    _check_resources(practice, values)
    sr_no = str(next(ids.appointment))
    practice.appointments[sr_no] = practice.make_appointment(sr_no, values)
    return sr_no


def _reschedule(practice: Practice, writeback: Writeback, ids: Ids) -> str:
    appointment = _appointment(practice, writeback.target)
    moved = {
        **appointment,
        **_formatted(writeback.payload, ("provider_id", "operatory", "date", "time", "length")),
        "last_changed_date": sikka_date(writeback.request_time.date()),
    }
    _check_resources(practice, moved)
    appointment.update(moved)
    practice.refresh_appointment(appointment)
    return writeback.target


def _change_status(practice: Practice, writeback: Writeback, ids: Ids) -> str:
    appointment = _appointment(practice, writeback.target)
    status = practice.status_named(text(writeback.payload, "value"))
    if status is None:
        raise WritebackFailed("Invalid appointment status")
    today = sikka_date(writeback.request_time.date())
    appointment.update(status=status, last_changed_date=today)
    if is_cancel_status(status):
        appointment["cancelled_date"] = today
    if status.casefold() == "confirmed":
        appointment["confirmed_on_date"] = today
    practice.refresh_appointment(appointment)
    return writeback.target


def _new_patient(practice: Practice, writeback: Writeback, ids: Ids) -> str:
    if practice.provider(text(writeback.payload, "provider_id")) is None:
        raise WritebackFailed("Provider not found")
    today = sikka_date(writeback.request_time.date())
    values = _formatted(writeback.payload, _PATIENT_FIELDS)
    patient_id = str(next(ids.patient))
    practice.patients[patient_id] = practice.make_patient(patient_id, {**values, "created_date": today})
    return patient_id


def _update_patient(practice: Practice, writeback: Writeback, ids: Ids) -> str:
    patient = practice.patients.get(writeback.target)
    if patient is None:
        raise WritebackFailed("Patient not found")
    locked = sorted(_LOCKED_PATIENT_FIELDS & writeback.payload.keys())
    if locked:
        raise WritebackFailed(f"Patient update cannot change {', '.join(locked)}")
    patient.update(_formatted(writeback.payload, _PATIENT_FIELDS))
    return writeback.target


APPOINTMENT_FIELDS = ("patient_id", "date", "time", "length", "provider_id", "operatory", "description")

NEW_APPOINTMENT = Kind(
    endpoint="appointment",
    method="POST",
    api="appointment",
    required=(*APPOINTMENT_FIELDS, "practice_id"),
    receipt="API2016",
    success="New Appointment inserted successfully",
    apply=_new_appointment,
    check=_check_formats,
)
RESCHEDULE = Kind(
    endpoint="appointments",
    method="PUT",
    api="appointments",
    required=("practice_id", "provider_id"),
    receipt="API0007",
    success="Appointment updated successfully",
    apply=_reschedule,
    check=_check_reschedule,
)
STATUS_CHANGE = Kind(
    endpoint="appointments",
    method="PATCH",
    api="appointments",
    required=("op", "path", "value", "practice_id"),
    receipt="API0007",
    success="Appointment status updated successfully",
    apply=_change_status,
    check=_check_status_patch,
)
NEW_PATIENT = Kind(
    endpoint="patient",
    method="POST",
    api="patients",
    required=("firstname", "lastname", "provider_id", "practice_id"),
    receipt="API2016",
    success="New Patient inserted successfully",
    apply=_new_patient,
    check=_check_formats,
)
PATIENT_UPDATE = Kind(
    endpoint="patient",
    method="PATCH",
    api="patient",
    required=("practice_id",),
    receipt="API0011",
    success="Patient updated successfully",
    apply=_update_patient,
    check=_check_formats,
    only_for_pmses=ORTHO_PMSES,
)
