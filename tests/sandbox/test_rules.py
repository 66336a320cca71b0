"""Writebacks checked per PMS at submission (§13-§17), and the lookups they draw on (§9, §19)."""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, SandboxState
from sandbox.envelopes import SikkaError
from sandbox.writebacks import NEW_PATIENT
from tests.sandbox.support import FakeClock, error_code, items, key_headers

DAY = "2026-12-16"  # a Wednesday after the holiday week
SECRET = "r" * 32

Headers = Callable[[str], Awaitable[dict[str, str]]]


@pytest.fixture
def practice_of(state: SandboxState, client: httpx.AsyncClient) -> Headers:
    """Request-Key headers for a new 30-patient practice on the given PMS."""

    async def make(pms: str) -> dict[str, str]:
        office = f"D{zlib.crc32(pms.encode()) % 90000 + 10000}"
        state.add_practice(office, secret_key=SECRET, name=f"{pms} Dental", pms=pms, patients=30)
        return await key_headers(client, office, SECRET)

    return make


async def first_patient(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    return (await items(client, "/v4/patients", headers))[0]["patient_id"]


async def booking(client: httpx.AsyncClient, headers: dict[str, str], pms: str) -> dict[str, str]:
    """A valid new-appointment payload for `pms` (OrthoTrac: an available slot)."""
    payload = {
        "patient_id": await first_patient(client, headers),
        "date": DAY,
        "time": "07:00",
        "length": "30",
        "provider_id": "DDS1",
        "operatory": "OP1",
        "practice_id": "1",
    }
    if pms == "OrthoTrac":
        slot = (await items(client, "/v4/appointments_available_slots", headers, startdate=DAY, fields="get_all"))[0]
        payload.update(provider_id=slot["provider_id"], time=slot["time"], operatory=slot["operatory"])
    extras: dict[str, dict[str, str]] = {
        "Dentrix": {"description": "Periodic exam"},
        "Eaglesoft": {"description": "Periodic exam", "type": "11"},
        "Open Dental": {"description": "Periodic exam", "type": "11", "procedure_codes": "D0120|D1110"},
        "OrthoTrac": {"staff": "STF1", "type": "12"},
        "Dolphin": {"type": "11", "user": "STF1"},
        "ClearDent": {"status": "open.unconfirm", "type": "11", "user": "101"},
        "Planet DDS": {"is_new_patient": "false", "has_insurance": "true", "production_type": "1"},
        "CornerStone": {"guarantor_id": payload["patient_id"]},
    }
    return {**payload, **extras[pms]}


def changed(payload: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """`payload` with `changes` applied; a None value removes the field."""
    result = {**payload, **{name: value for name, value in changes.items() if value is not None}}
    return {name: value for name, value in result.items() if changes.get(name, "") is not None}


PMSES = ["Dentrix", "Eaglesoft", "Open Dental", "OrthoTrac", "Dolphin", "ClearDent", "Planet DDS", "CornerStone"]


@pytest.mark.anyio
@pytest.mark.parametrize("pms", PMSES)
async def test_a_valid_booking_is_queued_and_applied(
    clock: FakeClock, client: httpx.AsyncClient, practice_of: Headers, pms: str
) -> None:
    headers = await practice_of(pms)
    payload = await booking(client, headers, pms)
    response = await client.post("/v4/appointment", headers=headers, json=payload)
    assert (response.status_code, error_code(response)) == (201, "API2016"), response.text
    clock.advance(1)
    writeback_id = response.json()["long_message"].removeprefix("Id:")
    (row,) = await items(client, "/v4/writeback_status", headers, id=writeback_id)
    assert (row["status"], row["has_error"]) == ("Success", "False"), row["result"]
    (booked,) = await items(client, "/v4/appointments", headers, appointment_sr_no=row["created_id"])
    assert booked["date"] == f"{DAY}T00:00:00"


BOOKING_CASES: list[tuple[str, dict[str, str | None], str]] = [
    ("Dentrix", {"description": None}, "API1020"),
    ("Dentrix", {"procedure_codes": "D0120"}, "API2019"),
    ("Dentrix", {"guarantor_id": "1"}, "API2019"),
    ("Eaglesoft", {"type": None}, "API2016"),
    ("Eaglesoft", {"type": "99"}, "API2019"),
    ("Eaglesoft", {"type": "Exam"}, "API2019"),
    ("Open Dental", {"procedure_codes": "D0120,D1110"}, "API2019"),
    ("OrthoTrac", {"staff": None}, "API1020"),
    ("OrthoTrac", {"staff": "DDS1"}, "API2019"),
    ("OrthoTrac", {"type": None}, "API2016"),
    ("OrthoTrac", {"time": "06:30"}, "API2019"),
    ("OrthoTrac", {"description": "x" * 150}, "API2016"),
    ("OrthoTrac", {"description": "x" * 151}, "API2019"),
    ("Dolphin", {"type": None}, "API1020"),
    ("Dolphin", {"user": None}, "API1020"),
    ("Dolphin", {"user": "DDS1"}, "API2019"),
    ("Dolphin", {"provider_id": "STF1"}, "API2019"),
    ("Dolphin", {"description": "Exam"}, "API2019"),
    ("Dolphin", {"status": "open.confirm"}, "API2016"),
    ("Dolphin", {"status": "Confirmed"}, "API2019"),
    ("ClearDent", {"status": None}, "API1020"),
    ("ClearDent", {"user": None}, "API1020"),
    ("ClearDent", {"user": "103"}, "API2019"),  # an inactive pms user
    ("ClearDent", {"user": "STF1"}, "API2019"),
    ("ClearDent", {"note": "ignored", "staff": "ignored"}, "API2016"),
    ("ClearDent", {"description": "x" * 3001}, "API2019"),
    ("Planet DDS", {"production_type": None}, "API1020"),
    ("Planet DDS", {"production_type": "9"}, "API2019"),
    ("Planet DDS", {"is_new_patient": "False"}, "API2019"),
    ("Planet DDS", {"patient_id": None}, "API1020"),
    ("Planet DDS", {"is_new_patient": "true"}, "API2019"),
    ("Planet DDS", {"is_new_patient": "true", "patient_id": None, "firstname": "Ada"}, "API2016"),
    ("Planet DDS", {"description": "Exam"}, "API2019"),
    ("Planet DDS", {"note": "x" * 3950}, "API2016"),
    ("Planet DDS", {"note": "x" * 3951}, "API2019"),
    ("Planet DDS", {"guarantor_id": "1"}, "API2019"),
    ("CornerStone", {"guarantor_id": None}, "API1020"),
    ("CornerStone", {"description": "EXAM"}, "API2016"),
    ("CornerStone", {"description": "Annual exam"}, "API2019"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("pms", "changes", "code"), BOOKING_CASES)
async def test_booking_rules_per_pms(
    client: httpx.AsyncClient, practice_of: Headers, pms: str, changes: dict[str, str | None], code: str
) -> None:
    headers = await practice_of(pms)
    payload = changed(await booking(client, headers, pms), changes)
    assert error_code(await client.post("/v4/appointment", headers=headers, json=payload)) == code


@pytest.mark.anyio
async def test_a_pms_without_writebacks_refuses_them(client: httpx.AsyncClient, practice_of: Headers) -> None:
    headers = await practice_of("Curve Dental")
    response = await client.post("/v4/appointment", headers=headers, json=await booking(client, headers, "Dentrix"))
    assert (response.status_code, error_code(response)) == (400, "API2004")
    patient = {"firstname": "Ada", "lastname": "Byron", "provider_id": "DDS1", "practice_id": "1"}
    assert error_code(await client.post("/v4/patient", headers=headers, json=patient)) == "API2004"


NEW_PATIENTS: dict[str, dict[str, str]] = {
    "Dentrix": {"firstname": "Ada", "lastname": "Byron", "provider_id": "DDS1", "practice_id": "1"},
    "Dolphin": {"firstname": "Ada", "lastname": "Byron", "provider_id": "DDS1", "practice_id": "1", "user": "101"},
    "OrthoTrac": {
        "firstname": "Ada",
        "lastname": "Byron",
        "gender": "female",
        "provider_id": "DDS1",
        "practice_id": "1",
        "staff": "STF1",
        "status": "1",
        "type": "1",
        "primary_relationship": "1",
    },
    "ClearDent": {"firstname": "Ada", "lastname": "Byron", "practice_id": "1"},
}
PATIENT_CASES: list[tuple[str, dict[str, str | None], str]] = [
    ("Dentrix", {"provider_id": None}, "API1020"),
    ("Dentrix", {"gender": "unknown", "birthdate": "1990-01-31", "email": "ada@example.com"}, "API2016"),
    ("Dentrix", {"gender": "Female"}, "API2019"),
    ("Dentrix", {"birthdate": "2026-11-26"}, "API2019"),  # tomorrow
    ("Dentrix", {"birthdate": "1990/01/31"}, "API2019"),
    ("Dentrix", {"email": "ada@example"}, "API2019"),
    ("Dentrix", {"cell": "555-0101"}, "API2019"),
    ("Dentrix", {"cell": "(646) 555-0101", "workphone": "646-555-0102-12"}, "API2016"),
    ("Dentrix", {"status": "1"}, "API2019"),
    ("Dentrix", {"primary_relationship": "1"}, "API2019"),
    ("Dentrix", {"provider_id": "NOPE"}, "API2019"),
    ("Dolphin", {"user": None}, "API1020"),
    ("Dolphin", {"user": "103"}, "API2019"),
    ("Dolphin", {"provider_id": "STF1"}, "API2019"),
    ("Dolphin", {"guarantor_id": "{patient}"}, "API1020"),
    ("Dolphin", {"guarantor_id": "{patient}", "primary_relationship": "2"}, "API2016"),
    ("OrthoTrac", {"type": None}, "API1020"),
    ("OrthoTrac", {"gender": "unknown"}, "API2019"),
    ("OrthoTrac", {"firstname": "A" * 16}, "API2019"),
    ("OrthoTrac", {"lastname": "B" * 25}, "API2016"),
    ("OrthoTrac", {"lastname": "B" * 26}, "API2019"),
    ("OrthoTrac", {"email": "ada@example.com"}, "API1020"),
    ("OrthoTrac", {"email": "ada@example.com", "country": "1", "address_line1": "1 Main St"}, "API2016"),
    ("OrthoTrac", {"status": "Active"}, "API2019"),
    ("ClearDent", {"cell": "646-555-0101"}, "API2019"),
    ("ClearDent", {"cell": "6465550101", "gender": "F"}, "API2016"),
    ("ClearDent", {"gender": "female"}, "API2019"),
    ("ClearDent", {"lastname": "B" * 26}, "API2019"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("pms", "changes", "code"), PATIENT_CASES)
async def test_new_patient_rules_per_pms(
    client: httpx.AsyncClient, practice_of: Headers, pms: str, changes: dict[str, str | None], code: str
) -> None:
    headers = await practice_of(pms)
    patient = await first_patient(client, headers)
    filled = {name: value.format(patient=patient) if value else value for name, value in changes.items()}
    response = await client.post("/v4/patient", headers=headers, json=changed(NEW_PATIENTS[pms], filled))
    assert error_code(response) == code, response.text


@pytest.mark.anyio
async def test_new_patient_is_stored_as_the_pms_shows_it(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, practice_of: Headers
) -> None:
    headers = await practice_of("ClearDent")
    payload = {**NEW_PATIENTS["ClearDent"], "gender": "F", "cell": "6465550101", "birthdate": "1990-01-31"}
    receipt = await client.post("/v4/patient", headers=headers, json=payload)
    clock.advance(1)
    (row,) = await items(client, "/v4/writeback_status", headers, id=receipt.json()["long_message"][3:])
    (patient,) = await items(client, "/v4/patients", headers, patient_id=row["created_id"], fields="get_all")
    assert (patient["gender"], patient["cell"], patient["birthdate"]) == ("Female", "6465550101", "1990-01-31T00:00:00")
    assert patient["guarantor_id"] == patient["patient_id"]


UPDATE_CASES: list[tuple[str, dict[str, str], str]] = [
    ("OrthoTrac", {"firstname": "Bea"}, "API1020"),  # no staff
    ("OrthoTrac", {"staff": "STF1"}, "API1020"),  # nothing to update
    ("OrthoTrac", {"staff": "STF1", "firstname": "A" * 15, "middlename": "Q", "type": "2"}, "API0011"),
    ("OrthoTrac", {"staff": "STF1", "lastname": "B" * 21}, "API2019"),
    ("OrthoTrac", {"staff": "STF1", "preferred_name": "C" * 21}, "API2019"),
    ("OrthoTrac", {"staff": "STF1", "race": "9"}, "API2019"),
    ("OrthoTrac", {"staff": "STF1", "language": "1"}, "API2019"),
    ("OrthoTrac", {"staff": "STF1", "cell": "6465550101"}, "API2019"),
    ("OrthoTrac", {"staff": "STF1", "gender": "unknown"}, "API2019"),
    ("Dolphin", {"preferred_name": "C" * 50, "gender": "2", "language": "2"}, "API0011"),
    ("Dolphin", {"preferred_name": "C" * 51}, "API2019"),
    ("Dolphin", {"gender": "female"}, "API2019"),
    ("Dolphin", {"middlename": "Q"}, "API2019"),
    ("Dolphin", {"staff": "STF1", "firstname": "Bea"}, "API2019"),
    ("Dolphin", {"city": "Boston"}, "API2019"),
    ("Dolphin", {"recall_date": "2027-01-15"}, "API0011"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("pms", "changes", "code"), UPDATE_CASES)
async def test_patient_update_rules_per_pms(
    client: httpx.AsyncClient, practice_of: Headers, pms: str, changes: dict[str, str], code: str
) -> None:
    headers = await practice_of(pms)
    patient = await first_patient(client, headers)
    response = await client.patch(f"/v4/patient/{patient}", headers=headers, json={"practice_id": "1", **changes})
    assert error_code(response) == code, response.text
    unknown = await client.patch("/v4/patient/1", headers=headers, json={"practice_id": "1", **changes})
    assert error_code(unknown) in {"API1020", "API2019"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("pms", "changes", "code"),
    [
        ("OrthoTrac", {}, "API1020"),
        ("OrthoTrac", {"staff": "STF1", "status_changed_by": "2"}, "API0007"),
        ("OrthoTrac", {"staff": "STF1", "status_changed_by": "9"}, "API2019"),
        ("Dolphin", {"status_changed_by": "1"}, "API0007"),
        ("Dolphin", {"status_changed_by": "Front desk"}, "API2019"),
        ("Dolphin", {"staff": "STF1"}, "API2019"),
    ],
)
async def test_status_change_rules_per_pms(
    state: SandboxState,
    client: httpx.AsyncClient,
    practice_of: Headers,
    pms: str,
    changes: dict[str, str],
    code: str,
) -> None:
    headers = await practice_of(pms)
    sr_no = (await items(client, "/v4/appointments", headers))[0]["appointment_sr_no"]
    patch = {"op": "replace", "path": "/appointment_status", "value": "cancel.patient", "practice_id": "1", **changes}
    assert error_code(await client.patch(f"/v4/appointments/{sr_no}", headers=headers, json=patch)) == code


@pytest.mark.anyio
async def test_writeback_details_need_a_type(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/v4/writeback_details", headers=headers)
    assert (response.status_code, error_code(response)) == (400, "API1020")
    dentrix = await client.get("/v4/writeback_details", headers=headers, params={"writeback_type": "new_appointment"})
    assert dentrix.status_code == 204  # Dentrix uses no appointment types


@pytest.mark.anyio
async def test_appointment_types(client: httpx.AsyncClient, practice_of: Headers) -> None:
    headers = await practice_of("Open Dental")
    types = await items(client, "/v4/writeback_details", headers, writeback_type="new_appointment", category="appttype")
    assert {"Adult prophylaxis", "Periodic exam", "Limited exam pain"} <= {row["description"] for row in types}
    assert all(row["item"].isdigit() for row in types)
    assert all(row["description"].replace(" ", "").isalnum() for row in types)
    assert {row["practice_id"] for row in types} == {"1-1"}
    for category in ("AppTType", "APPTTYPE", "appt"):
        query = {"writeback_type": "new_appointment", "category": category}
        assert await items(client, "/v4/writeback_details", headers, **query) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("pms", "writeback_type", "category"),
    [
        ("OrthoTrac", "patch_appointment", "CancelBy"),
        ("Dolphin", "patch_appointment", "ApptStatusChangedBy"),
        ("Planet DDS", "new_appointment", "ApptProdType"),
        ("ClearDent", "new_patient", "Sex"),
        ("OrthoTrac", "new_patient", "Relationship"),
    ],
)
async def test_pms_lookups(
    client: httpx.AsyncClient, practice_of: Headers, pms: str, writeback_type: str, category: str
) -> None:
    headers = await practice_of(pms)
    rows = await items(client, "/v4/writeback_details", headers, writeback_type=writeback_type, category=category)
    assert rows
    assert {row["category"] for row in rows} == {category}
    other = await items(
        client, "/v4/writeback_details", headers, writeback_type="update_appointment", category=category
    )
    assert other == []


@pytest.mark.anyio
async def test_pms_users(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    active = await items(client, "/v4/pms_users", headers, status="active", practice_id="1")
    assert [row["user_id"] for row in active] == ["101", "102"]
    (inactive,) = await items(client, "/v4/pms_users", headers, status="Inactive", practice_id="1")
    assert inactive["user_id"] == "103"


def test_typed_values_are_named(state: SandboxState) -> None:
    """The refusal of a JSON-typed value names the field."""
    practice = state.practice(DEMO_OFFICE_ID)
    payload: dict[str, Any] = {"firstname": "Ada", "lastname": "Byron", "provider_id": "DDS1", "practice_id": 1}
    with pytest.raises(SikkaError) as raised:
        NEW_PATIENT.validate(practice, payload, "", state.now())
    assert raised.value.code == "API2019"
    assert "practice_id" in raised.value.body()["long_message"]
