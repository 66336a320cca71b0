"""Tenant isolation: a key for one office never reaches another office's data or writebacks."""

from __future__ import annotations

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, SandboxState
from tests.sandbox.support import FakeClock, error_code, items, key_headers

OTHER_OFFICE, OTHER_SECRET = "D80000", "f" * 32


@pytest.fixture
async def other_headers(state: SandboxState, client: httpx.AsyncClient) -> dict[str, str]:
    state.add_practice(
        OTHER_OFFICE,
        secret_key=OTHER_SECRET,
        name="Harbor Family Dentistry",
        state="CA",
        time_zone="Pacific Standard Time",
    )
    return await key_headers(client, OTHER_OFFICE, OTHER_SECRET)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "id_field"), [("/v4/patients", "patient_id"), ("/v4/appointments", "appointment_sr_no")]
)
async def test_each_key_sees_only_its_office(
    state: SandboxState,
    client: httpx.AsyncClient,
    headers: dict[str, str],
    other_headers: dict[str, str],
    path: str,
    id_field: str,
) -> None:
    mine = {row[id_field] for row in await items(client, path, headers)}
    theirs = {row[id_field] for row in await items(client, path, other_headers)}
    assert mine
    assert theirs
    assert not mine & theirs
    collection = "patients" if id_field == "patient_id" else "appointments"
    assert theirs == set(getattr(state.practice(OTHER_OFFICE), collection))
    foreign = next(iter(theirs))
    assert (await client.get(path, headers=headers, params={id_field: foreign})).status_code == 204


@pytest.mark.anyio
async def test_other_practice_has_its_own_data(
    state: SandboxState, client: httpx.AsyncClient, other_headers: dict[str, str]
) -> None:
    demo, other = state.practice(DEMO_OFFICE_ID), state.practice(OTHER_OFFICE)
    demo_people = [(p["firstname"], p["lastname"], p["birthdate"]) for p in demo.patients.values()]
    other_people = [(p["firstname"], p["lastname"], p["birthdate"]) for p in other.patients.values()]
    assert demo_people != other_people
    assert {p["state"] for p in other.patients.values()} == {"CA"}
    area_codes = {p["cell"].lstrip("(")[:3] for p in other.patients.values() if p["cell"]}
    assert area_codes == {"408", "669", "650"}


@pytest.mark.anyio
async def test_writebacks_are_per_office(
    clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    payload = {"firstname": "Ada", "lastname": "Byron", "provider_id": "DDS1", "practice_id": "1"}
    receipt = await client.post("/v4/patient", headers=other_headers, json=payload)
    writeback_id = receipt.json()["long_message"].removeprefix("Id:")
    clock.advance(1)
    assert (await client.get("/v4/writeback_status", headers=headers, params={"id": writeback_id})).status_code == 204
    assert await items(client, "/v4/writeback_status", headers) == []
    (row,) = await items(client, "/v4/writeback_status", other_headers, id=writeback_id)
    assert row["office_id"] == OTHER_OFFICE
    new_patient = row["created_id"]
    assert await items(client, "/v4/patients", headers, patient_id=new_patient) == []
    assert len(await items(client, "/v4/patients", other_headers, patient_id=new_patient)) == 1


@pytest.mark.anyio
async def test_a_key_cannot_write_to_another_office(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    state.add_practice(OTHER_OFFICE, "1-1", secret_key=OTHER_SECRET, name="Harbor Family Dentistry North")
    payload = {"firstname": "Ada", "lastname": "Byron", "provider_id": "DDS1", "practice_id": "1-1"}
    response = await client.post("/v4/patient", headers=headers, json=payload)
    assert (response.status_code, error_code(response)) == (422, "API2019")
    payload["provider_id"] = state.practice(OTHER_OFFICE, "1-1").providers[0]["provider_id"]
    assert (await client.post("/v4/patient", headers=other_headers, json=payload)).status_code == 201
