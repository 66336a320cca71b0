"""Asynchronous writebacks: receipts, Pending → Completed, failures, cancellation, listings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, DEMO_PRACTICE_ID, SandboxState
from sandbox.writebacks import SLOT_TAKEN
from tests.sandbox.support import APP_HEADERS, FakeClock, error_code, items

DAY = "2026-12-02"  # a Wednesday: every provider works


def booking(**changes: str) -> dict[str, str]:
    """A new-appointment payload for a free slot (07:00, before opening: the PMS does not check hours)."""
    return {
        "patient_id": "10002",
        "date": DAY,
        "time": "07:00",
        "length": "30",
        "provider_id": "DDS1",
        "operatory": "OP1",
        "practice_id": DEMO_PRACTICE_ID,
        "description": "Exam",
        **changes,
    }


async def submit(client: httpx.AsyncClient, headers: dict[str, str], method: str, path: str, payload: Any) -> str:
    """Submit a writeback and return its id."""
    response = await client.request(method, path, headers=headers, json=payload)
    assert response.status_code in (200, 201), response.text
    writeback_id: str = response.json()["long_message"].removeprefix("Id:")
    return writeback_id


async def status(client: httpx.AsyncClient, headers: dict[str, str], writeback_id: str) -> dict[str, str]:
    (row,) = await items(client, "/v4/writeback_status", headers, id=writeback_id)
    return row


def first_appointment(state: SandboxState, **conditions: str) -> dict[str, str]:
    return next(
        appointment
        for appointment in state.practice(DEMO_OFFICE_ID).appointments.values()
        if all(appointment[name] == value for name, value in conditions.items())
    )


@pytest.mark.anyio
async def test_booking_goes_pending_then_completed(
    clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    writeback_id = await submit(client, headers, "POST", "/v4/appointment", booking(note="first visit"))
    pending = await status(client, headers, writeback_id)
    assert (pending["status"], pending["is_completed"], pending["created_id"]) == ("Pending", "False", "")
    assert not await items(client, "/v4/appointments", headers, startdate=DAY, enddate=DAY, find="time=eq_07:00")
    clock.advance(1)
    done = await status(client, headers, writeback_id)
    assert (done["status"], done["is_completed"], done["has_error"]) == ("Success", "True", "False")
    assert done["created_id"]
    assert done["created_id"] != writeback_id
    (appointment,) = await items(client, "/v4/appointments", headers, appointment_sr_no=done["created_id"])
    assert (appointment["date"], appointment["time"], appointment["length"]) == (
        f"{DAY}T00:00:00",
        "07:00",
        "30",
    )
    assert (appointment["patient_id"], appointment["note"], appointment["status"]) == (
        "10002",
        "first visit",
        "Scheduled",
    )
    assert done["request_time"] == "2026-11-25 10:00:00"
    assert done["completed_time"] == "2026-11-25 10:00:01"


@pytest.mark.anyio
async def test_double_booking_fails(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    taken = first_appointment(state, date=f"{DAY}T00:00:00", provider_id="DDS2", cancelled="False")
    same_provider = booking(provider_id="DDS2", operatory="OP4", time=taken["time"])
    same_chair = booking(provider_id="DDS1", operatory=taken["operatory"], time=taken["time"], length="10")
    ids = [await submit(client, headers, "POST", "/v4/appointment", payload) for payload in (same_provider, same_chair)]
    clock.advance(1)
    for writeback_id in ids:
        failed = await status(client, headers, writeback_id)
        assert (failed["is_completed"], failed["has_error"], failed["status"]) == (
            "True",
            "True",
            "Completed",
        )
        assert failed["result"] == SLOT_TAKEN
        assert failed["created_id"] == ""


@pytest.mark.anyio
async def test_second_of_two_identical_bookings_fails(
    clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    first = await submit(client, headers, "POST", "/v4/appointment", booking())
    second = await submit(client, headers, "POST", "/v4/appointment", booking(operatory="OP4"))
    clock.advance(1)
    assert (await status(client, headers, first))["has_error"] == "False"
    assert (await status(client, headers, second))["result"] == SLOT_TAKEN


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("payload", "result"),
    [
        (booking(patient_id="999999"), "Patient not found"),
        (booking(provider_id="NOPE"), "Provider not found"),
        (booking(operatory="OP9"), "Operatory not found"),
    ],
)
async def test_booking_failures(
    clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str], payload: dict[str, str], result: str
) -> None:
    writeback_id = await submit(client, headers, "POST", "/v4/appointment", payload)
    clock.advance(1)
    assert (await status(client, headers, writeback_id))["result"] == result


@pytest.mark.anyio
@pytest.mark.parametrize("missing", ["patient_id", "date", "time", "length", "provider_id", "operatory", "practice_id"])
async def test_missing_parameters_are_api1020_at_once(
    client: httpx.AsyncClient, headers: dict[str, str], missing: str
) -> None:
    payload = booking()
    del payload[missing]
    response = await client.post("/v4/appointment", headers=headers, json=payload)
    assert (response.status_code, error_code(response)) == (400, "API1020")


@pytest.mark.anyio
@pytest.mark.parametrize("changes", [{"date": "12/02/2026"}, {"time": "7pm"}, {"length": "half an hour"}])
async def test_malformed_parameters_are_api1026_at_once(
    client: httpx.AsyncClient, headers: dict[str, str], changes: dict[str, str]
) -> None:
    response = await client.post("/v4/appointment", headers=headers, json=booking(**changes))
    assert (response.status_code, error_code(response)) == (400, "API1026")


@pytest.mark.anyio
async def test_delete_cancels_a_pending_writeback(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    before = len(state.practice(DEMO_OFFICE_ID).appointments)
    writeback_id = await submit(client, headers, "POST", "/v4/appointment", booking())
    response = await client.delete("/v4/writebacks", headers=APP_HEADERS, params={"id": writeback_id})
    assert (response.status_code, error_code(response)) == (200, "API4006")
    clock.advance(10)
    assert (await client.get("/v4/writeback_status", headers=headers, params={"id": writeback_id})).status_code == 204
    assert len(state.practice(DEMO_OFFICE_ID).appointments) == before
    again = await client.delete("/v4/writebacks", headers=APP_HEADERS, params={"id": writeback_id})
    assert (again.status_code, error_code(again)) == (404, "API2009")


@pytest.mark.anyio
async def test_a_completed_writeback_cannot_be_deleted(
    clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    writeback_id = await submit(client, headers, "POST", "/v4/appointment", booking())
    clock.advance(1)
    response = await client.delete("/v4/writebacks", headers=APP_HEADERS, params={"id": writeback_id})
    assert (response.status_code, error_code(response)) == (400, "API1026")


@pytest.mark.anyio
async def test_reschedule(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    appointment = first_appointment(state, date=f"{DAY}T00:00:00", provider_id="DDS1", cancelled="False")
    sr_no = appointment["appointment_sr_no"]
    move = {
        "practice_id": "1",
        "provider_id": "DDS1",
        "date": "2026-12-03",
        "time": "18:00",
        "operatory": "OP2",
    }
    writeback_id = await submit(client, headers, "PUT", f"/v4/appointments/{sr_no}", move)
    clock.advance(1)
    done = await status(client, headers, writeback_id)
    assert (done["status"], done["created_id"], done["appointment_sr_no"]) == ("Success", sr_no, sr_no)
    (moved,) = await items(client, "/v4/appointments", headers, appointment_sr_no=sr_no, fields="get_all")
    assert (moved["date"], moved["time"], moved["operatory"]) == ("2026-12-03T00:00:00", "18:00", "OP2")
    unknown = await submit(client, headers, "PUT", "/v4/appointments/1", move)
    clock.advance(1)
    assert (await status(client, headers, unknown))["result"] == "Appointment not found"


@pytest.mark.anyio
async def test_cancel_frees_the_slot(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    taken = first_appointment(state, date=f"{DAY}T00:00:00", provider_id="DDS1", cancelled="False")
    sr_no = taken["appointment_sr_no"]
    cancel = {"op": "replace", "path": "/appointment_status", "value": "canceled", "practice_id": "1"}
    cancel_id = await submit(client, headers, "PATCH", f"/v4/appointments/{sr_no}", cancel)
    clock.advance(1)
    assert (await status(client, headers, cancel_id))["created_id"] == sr_no
    (cancelled,) = await items(client, "/v4/appointments", headers, appointment_sr_no=sr_no, fields="get_all")
    assert (cancelled["status"], cancelled["cancelled"]) == ("Canceled", "True")
    rebook = booking(time=taken["time"], length=taken["length"], operatory=taken["operatory"])
    rebook_id = await submit(client, headers, "POST", "/v4/appointment", rebook)
    clock.advance(1)
    assert (await status(client, headers, rebook_id))["has_error"] == "False"


@pytest.mark.anyio
async def test_unknown_status_fails(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    sr_no = first_appointment(state)["appointment_sr_no"]
    patch = {"op": "replace", "path": "/appointment_status", "value": "Teleported", "practice_id": "1"}
    writeback_id = await submit(client, headers, "PATCH", f"/v4/appointments/{sr_no}", patch)
    clock.advance(1)
    assert (await status(client, headers, writeback_id))["result"] == "Invalid appointment status"


@pytest.mark.anyio
async def test_new_patient(clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    payload = {
        "firstname": "Ada",
        "lastname": "Byron",
        "provider_id": "DDS1",
        "practice_id": "1",
        "birthdate": "1990-12-10",
        "cell": "646-555-0999",
        "email": "ada@example.com",
    }
    writeback_id = await submit(client, headers, "POST", "/v4/patient", payload)
    clock.advance(1)
    patient_id = (await status(client, headers, writeback_id))["created_id"]
    (patient,) = await items(client, "/v4/patients", headers, patient_id=patient_id)
    assert (patient["firstname"], patient["birthdate"], patient["cell"]) == (
        "Ada",
        "1990-12-10T00:00:00",
        "646-555-0999",
    )
    assert patient["status"] == "Active"


@pytest.mark.anyio
async def test_patient_update_only_for_orthotrac_and_dolphin(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    dentrix = await client.patch("/v4/patient/10001", headers=headers, json={"practice_id": "1", "firstname": "X"})
    assert (dentrix.status_code, error_code(dentrix)) == (400, "API2004")
    state.practice(DEMO_OFFICE_ID).pms = "OrthoTrac"
    renamed = await submit(client, headers, "PATCH", "/v4/patient/10001", {"practice_id": "1", "preferred_name": "Z"})
    moved = await submit(client, headers, "PATCH", "/v4/patient/10001", {"practice_id": "1", "email": "z@example.com"})
    clock.advance(1)
    assert (await status(client, headers, renamed))["status"] == "Success"
    assert (await status(client, headers, moved))["result"] == "Patient update cannot change email"
    assert state.practice(DEMO_OFFICE_ID).patients["10001"]["preferred_name"] == "Z"


@pytest.mark.anyio
async def test_writebacks_listing(clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    done = await submit(client, headers, "POST", "/v4/appointment", booking())
    clock.advance(1)
    pending = await submit(client, headers, "POST", "/v4/appointment", booking(patient_id="0"))
    rows = await items(client, "/v4/writebacks", APP_HEADERS, startdate="2026-11-19", enddate="2026-11-26")
    assert {row["id"]: row["result"] for row in rows} == {done: "completed", pending: "pending"}
    clock.advance(1)
    rows = await items(client, "/v4/writebacks", APP_HEADERS, startdate="2026-11-25", enddate="2026-11-25")
    assert {row["id"]: row["result"] for row in rows} == {done: "completed", pending: "failed"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "params", [{}, {"startdate": "2026-11-25"}, {"startdate": "2026-11-18", "enddate": "2026-11-26"}]
)
async def test_writebacks_listing_needs_a_range_of_at_most_7_days(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/v4/writebacks", headers=APP_HEADERS, params=params)
    assert (response.status_code, error_code(response)) == (400, "API1026")


@pytest.mark.anyio
async def test_delays_per_config_practice_and_state_inspection(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    state.config.writeback_delay_seconds = 30
    writeback_id = await submit(client, headers, "POST", "/v4/appointment", booking())
    state.practice(DEMO_OFFICE_ID).writeback_delay_seconds = 5
    quick_id = await submit(client, headers, "POST", "/v4/appointment", booking(time="06:00"))
    clock.advance(5)
    (quick,) = (
        state.practice(DEMO_OFFICE_ID).writebacks
        if False
        else [w for w in state.writebacks_of(DEMO_OFFICE_ID) if str(w.id) == quick_id]
    )
    assert quick.status == "Success"
    assert (await status(client, headers, writeback_id))["status"] == "Pending"
    clock.advance(25)
    assert (await status(client, headers, writeback_id))["status"] == "Success"
