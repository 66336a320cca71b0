"""Refusals are raised where they are decided (`tools.results.Refused`) and answered by the tool wrapper as the
tool's own result, inside the once-per-key work: a write tool's refusal is stored and replayed like any answer."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support import identity
from tests.tools.conftest import Desk, requests_since
from tools.identity import PER_CALL

pytestmark = pytest.mark.anyio


def booked_patient(desk: Desk) -> tuple[dict[str, str], str]:
    """An active sandbox patient with an appointment, and that appointment's id."""
    appointments = list(desk.practice.appointments.values())
    patients = desk.practice.patients
    for appointment in reversed(appointments):
        patient = patients.get(appointment["patient_id"])
        if patient and patient["status"] == "Active":
            return patient, appointment["appointment_sr_no"]
    raise AssertionError("the sandbox has no active patient with an appointment")


async def test_a_write_tool_s_refusal_is_stored_and_replayed(desk: Desk) -> None:
    """The same refused cancellation, retried on one call, is answered from its stored result: Sikka is not asked
    again and the identity check counts one attempt, so the caller can still verify on that call."""
    patient, appointment_id = booked_patient(desk)
    wrong = {**identity(patient, dateOfBirth="1901-01-01"), "appointmentId": appointment_id}
    first = await desk.call("cancelAppointment", wrong, "refusal-replay")
    before = Counter(desk.sandbox.counters)
    retries = [await desk.call("cancelAppointment", wrong, "refusal-replay") for _ in range(PER_CALL.failures)]
    assert (first["outcome"], first["code"]) == ("needs_verification", "identity_mismatch")
    assert all(retry == first for retry in retries)
    assert requests_since(desk.sandbox, before) == {}
    verified = await desk.call("getPatientInfo", identity(patient), "refusal-replay")
    assert verified["code"] == "patient_verified", verified
