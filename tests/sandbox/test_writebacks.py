"""Asynchronous writebacks: receipts, Pending → Completed, failures, cancellation, listings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, DEMO_PRACTICE_ID, DEMO_SECOND_PRACTICE_ID, SandboxState
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
    writeback_id = await submit(client, headers, "POST", "/v4/appointment", booking(check_spu="false"))
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
    assert (appointment["patient_id"], appointment["description"], appointment["status"]) == (
        "10002",
        "Exam",
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


def second_location(state: SandboxState) -> dict[str, str]:
    """A patient, an active provider and a chair of the demo office's second location."""
    branch = state.practice(DEMO_OFFICE_ID, DEMO_SECOND_PRACTICE_ID)
    return {
        "patient_id": next(iter(branch.patients)),
        "provider_id": branch.providers[0]["provider_id"],
        "operatory": branch.operatories[0]["operatory"],
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    "changes",
    [
        {"patient_id": "999999"},
        {"provider_id": "NOPE"},
        {"provider_id": "DDS0"},  # inactive
        {"operatory": "OP9"},
        {"operatory": "OP5"},  # hidden
        {"operatory": "OP-1"},  # the abbreviation, not the operatory (§23.3)
        {"practice_id": "3"},
    ],
)
async def test_unknown_ids_are_api2019_at_once(
    client: httpx.AsyncClient, headers: dict[str, str], changes: dict[str, str]
) -> None:
    response = await client.post("/v4/appointment", headers=headers, json=booking(**changes))
    assert (response.status_code, error_code(response)) == (422, "API2019")


@pytest.mark.anyio
@pytest.mark.parametrize("field", ["patient_id", "provider_id", "operatory"])
async def test_another_locations_ids_are_refused(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str], field: str
) -> None:
    foreign = second_location(state)[field]
    response = await client.post("/v4/appointment", headers=headers, json=booking(**{field: foreign}))
    assert (response.status_code, error_code(response)) == (422, "API2019")
    assert foreign in response.json()["long_message"]
    whole = booking(**second_location(state), practice_id=DEMO_SECOND_PRACTICE_ID)
    assert (await client.post("/v4/appointment", headers=headers, json=whole)).status_code == 201


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
@pytest.mark.parametrize(
    "changes",
    [
        {"date": "12/02/2026"},
        {"date": "2026-02-30"},
        {"time": "7pm"},
        {"time": "7:00"},  # HH:mm: two-digit hours
        {"length": "half an hour"},
        {"length": "0"},
        {"length": 30},  # values are strings, as in every documented example
        {"description": "Exam, pain"},  # no special characters (§23.18)
        {"note": "first visit"},  # Planet DDS only
        {"type": "11"},  # Dentrix has no appointment types
        {"staff": "STF1"},  # OrthoTrac only
    ],
)
async def test_invalid_parameters_are_api2019_at_once(
    client: httpx.AsyncClient, headers: dict[str, str], changes: dict[str, object]
) -> None:
    response = await client.post("/v4/appointment", headers=headers, json={**booking(), **changes})
    assert (response.status_code, error_code(response)) == (422, "API2019")
    assert response.json()["http_code"] == "422"


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
    unknown = await client.put("/v4/appointments/1", headers=headers, json=move)
    assert (unknown.status_code, error_code(unknown)) == (422, "API2019")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"provider_id": ""}, "API1020"),
        ({"provider_id": "DDS0"}, "API2019"),
        ({"operatory": "OP5"}, "API2019"),
        ({"status": "Canceled"}, "API2019"),  # the text, not the practice_variables value
        ({"description": "Moved"}, "API2019"),  # Dentrix G6 only
        ({"staff": "STF1"}, "API2019"),
    ],
)
async def test_reschedule_is_checked_at_once(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str], changes: dict[str, str], code: str
) -> None:
    sr_no = first_appointment(state)["appointment_sr_no"]
    move = {"practice_id": "1", "provider_id": "DDS1", "time": "18:00", **changes}
    response = await client.put(f"/v4/appointments/{sr_no}", headers=headers, json=move)
    assert error_code(response) == code


@pytest.mark.anyio
async def test_dentrix_g6_takes_a_description_on_reschedule(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    state.practice(DEMO_OFFICE_ID).pms_version = "G6.2"
    sr_no = first_appointment(state)["appointment_sr_no"]
    move = {"practice_id": "1", "provider_id": "DDS1", "description": "Moved by phone"}
    assert (await client.put(f"/v4/appointments/{sr_no}", headers=headers, json=move)).status_code == 200
    too_long = {**move, "description": "x" * 61}
    assert error_code(await client.put(f"/v4/appointments/{sr_no}", headers=headers, json=too_long)) == "API2019"


@pytest.mark.anyio
async def test_reschedule_to_another_status(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    sr_no = first_appointment(state, date=f"{DAY}T00:00:00", cancelled="False")["appointment_sr_no"]
    change = {"practice_id": "1", "provider_id": "DDS1", "status": "open.confirm", "time": "06:00"}
    await submit(client, headers, "PUT", f"/v4/appointments/{sr_no}", change)
    clock.advance(1)
    assert state.practice(DEMO_OFFICE_ID).appointments[sr_no]["status"] == "Confirmed"


@pytest.mark.anyio
async def test_cancel_frees_the_slot(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    taken = first_appointment(state, date=f"{DAY}T00:00:00", provider_id="DDS1", cancelled="False")
    sr_no = taken["appointment_sr_no"]
    cancel = {"op": "replace", "path": "/appointment_status", "value": "cancel.patient", "practice_id": "1"}
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
@pytest.mark.parametrize(
    "changes",
    [
        {"value": "Teleported"},
        {"value": "Canceled"},  # the appointment_statuses text, not the practice_variables value (§23.12)
        {"value": "CANCEL.PATIENT"},
        {"path": "/status"},
        {"path": "status"},
        {"op": "add"},
        {"staff": "STF1"},  # OrthoTrac only
        {"status_changed_by": "1"},  # Dolphin and OrthoTrac only
    ],
)
async def test_status_change_is_checked_at_once(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str], changes: dict[str, str]
) -> None:
    sr_no = first_appointment(state)["appointment_sr_no"]
    patch = {"op": "replace", "path": "/appointment_status", "value": "cancel.patient", "practice_id": "1", **changes}
    response = await client.patch(f"/v4/appointments/{sr_no}", headers=headers, json=patch)
    assert (response.status_code, error_code(response)) == (422, "API2019")


@pytest.mark.anyio
async def test_status_change_needs_an_object_body(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    sr_no = first_appointment(state)["appointment_sr_no"]
    patch = [{"op": "replace", "path": "/appointment_status", "value": "cancel.patient", "practice_id": "1"}]
    response = await client.patch(f"/v4/appointments/{sr_no}", headers=headers, json=patch)
    assert response.status_code == 400


@pytest.mark.anyio
async def test_dentrix_does_not_log_a_broken_status(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    sr_no = first_appointment(state)["appointment_sr_no"]
    patch = {"op": "replace", "path": "/appointment_status", "value": "broken.noshow", "practice_id": "1"}
    response = await client.patch(f"/v4/appointments/{sr_no}", headers=headers, json=patch)
    assert (response.status_code, error_code(response)) == (200, "API0008")
    assert state.writebacks_of(DEMO_OFFICE_ID) == []
    state.practice(DEMO_OFFICE_ID).pms = "Open Dental"
    assert (await client.patch(f"/v4/appointments/{sr_no}", headers=headers, json=patch)).status_code == 200
    assert len(state.writebacks_of(DEMO_OFFICE_ID)) == 1


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
    update = {"practice_id": "1", "staff": "STF1", "preferred_name": "Z"}
    renamed = await submit(client, headers, "PATCH", "/v4/patient/10001", update)
    moved = await client.patch("/v4/patient/10001", headers=headers, json={**update, "email": "z@example.com"})
    assert (moved.status_code, error_code(moved)) == (422, "API2019")
    clock.advance(1)
    assert (await status(client, headers, renamed))["status"] == "Success"
    assert state.practice(DEMO_OFFICE_ID).patients["10001"]["preferred_name"] == "Z"


@pytest.mark.anyio
async def test_writebacks_listing(clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    done = await submit(client, headers, "POST", "/v4/appointment", booking())
    clock.advance(1)
    pending = await submit(client, headers, "POST", "/v4/appointment", booking())  # the slot is taken by then
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


@pytest.mark.anyio
async def test_an_offline_spu_holds_writebacks_until_it_is_back(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    state.set_spu_online(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, False)
    refused = await client.post("/v4/appointment", headers=headers, json=booking(check_spu="true"))
    assert (refused.status_code, error_code(refused)) == (412, "API2017")
    assert refused.json()["log_message"] == "Sikka platform utility is offline"  # §12: not long_message
    queued = await submit(client, headers, "POST", "/v4/appointment", booking())
    clock.advance(3600)
    assert (await status(client, headers, queued))["status"] == "Pending"
    state.set_spu_online(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, True)
    assert (await status(client, headers, queued))["status"] == "Pending"  # applied after the delay, not at once
    clock.advance(1)
    assert (await status(client, headers, queued))["status"] == "Success"
    online = await client.post("/v4/appointment", headers=headers, json=booking(time="06:00", check_spu="true"))
    assert online.status_code == 201


@pytest.mark.anyio
async def test_the_listing_shows_the_original_call_form_encoded_with_the_key_masked(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    appointment = first_appointment(state, status="Scheduled")["appointment_sr_no"]
    cancel = {"op": "replace", "path": "/appointment_status", "value": "cancel.patient", "practice_id": "1"}
    writeback_id = await submit(client, headers, "PATCH", f"/v4/appointments/{appointment}", cancel)
    rows = await items(client, "/v4/writebacks", APP_HEADERS, startdate="2026-11-25", enddate="2026-11-25")
    (row,) = [row for row in rows if row["id"] == writeback_id]
    key = headers["Request-Key"]
    assert row["api_request_body"] == (
        f"request_key={key[:4]}{'*' * (len(key) - 4)}&op=replace&path=/appointment_status&value=cancel.patient"
        f"&practice_id=1&apiname=PATCH appointments&id={appointment}"
    )
    assert key not in row["api_request_body"]
