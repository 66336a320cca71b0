"""Locations of one office: /practices, /operatories, practice_id scoping, API access, data uploads,
Data-Insert, and the registration handshake."""

from __future__ import annotations

import httpx
import pytest

from sandbox import (
    DEMO_OFFICE_ID,
    DEMO_PRACTICE_ID,
    DEMO_SECOND_PRACTICE_ID,
    SandboxState,
    registration_handshake,
)
from tests.sandbox.support import APP_HEADERS, FakeClock, error_code, items

SCOPED: list[tuple[str, dict[str, str]]] = [
    ("patients", {}),
    ("appointments", {}),
    ("providers", {}),
    ("pms_users", {}),
    ("practice_schedule", {}),
    ("appointment_statuses", {}),
    ("practice_variables", {}),
    ("patient_balance", {}),
    ("insurance_companies", {}),
    ("insurance_plan_coverage", {}),
    ("practices", {}),
]


@pytest.mark.anyio
async def test_practices_lists_each_location(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    rows = await items(client, "/v4/practices", headers, fields="get_all")
    assert [(row["practice_id"], row["name"]) for row in rows] == [
        ("1", "Happy Dental Clinic"),
        ("2", "Happy Dental Clinic Brooklyn"),
    ]
    assert [row["cust_id"] for row in rows] == [p.cust_id for p in state.practices(DEMO_OFFICE_ID)]
    assert [row["is_main_office"] for row in rows] == ["True", "False"]
    assert all(row["website"].startswith("https://") and row["phone"].isdigit() for row in rows)
    (second,) = await items(client, "/v4/practices", headers, practice_id=DEMO_SECOND_PRACTICE_ID)
    assert second["patient_href"] == "https://api.sikkasoft.com/v4/practices/2/patients"


@pytest.mark.anyio
@pytest.mark.parametrize(("endpoint", "params"), SCOPED)
async def test_practice_id_scopes_every_read(
    client: httpx.AsyncClient, headers: dict[str, str], endpoint: str, params: dict[str, str]
) -> None:
    """A key of the office with practice_id=1 never sees location 2's rows; without it, both locations."""
    first = await items(client, f"/v4/{endpoint}", headers, practice_id=DEMO_PRACTICE_ID, **params)
    second = await items(client, f"/v4/{endpoint}", headers, practice_id=DEMO_SECOND_PRACTICE_ID, **params)
    both = await items(client, f"/v4/{endpoint}", headers, **params)
    assert {row["practice_id"] for row in first} == {"1"}
    assert {row["practice_id"] for row in second} == {"2"}
    assert len(both) == len(first) + len(second)
    assert await items(client, f"/v4/{endpoint}", headers, practice_id="1-1", **params) == []


@pytest.mark.anyio
async def test_writeback_details_scope_by_the_location_id(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for practice in state.practices(DEMO_OFFICE_ID):
        practice.pms = "Open Dental"
    query = {"writeback_type": "new_appointment", "category": "appttype"}
    first = await items(client, "/v4/writeback_details", headers, practice_id="1", **query)
    second = await items(client, "/v4/writeback_details", headers, practice_id="2", **query)
    assert ({row["practice_id"] for row in first}, {row["practice_id"] for row in second}) == ({"1-1"}, {"2-1"})
    assert not {row["item"] for row in first} & {row["item"] for row in second}
    assert await items(client, "/v4/writeback_details", headers, practice_id="1-1", **query) == []


@pytest.mark.anyio
async def test_operatories_need_a_cust_id(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    missing = await client.get("/v4/operatories", headers=headers)
    assert (missing.status_code, error_code(missing)) == (400, "API1026")
    first, second = state.practices(DEMO_OFFICE_ID)
    chairs = await items(client, "/v4/operatories", headers, cust_id=second.cust_id)
    assert [row["operatory"] for row in chairs] == ["L2-OP1", "L2-OP2", "L2-OP3", "L2-OP4"]
    assert {(row["practice_id"], row["cust_id"]) for row in chairs} == {("2-0", second.cust_id)}
    visible = await items(client, "/v4/operatories", headers, cust_id=first.cust_id, is_hidden="F")
    assert [row["operatory"] for row in visible] == ["OP1", "OP2", "OP3", "OP4"]
    (hidden,) = await items(client, "/v4/operatories", headers, cust_id=first.cust_id, is_hidden="T")
    assert hidden["operatory"] == "OP5"
    assert await items(client, "/v4/operatories", headers, cust_id="1") == []


@pytest.mark.anyio
async def test_operatories_name_their_providers_on_eaglesoft_only(
    state: SandboxState, client: httpx.AsyncClient
) -> None:
    practice = state.add_practice("D60000", secret_key="e" * 32, name="Eagle Dental", pms="Eaglesoft", patients=5)
    assert [row["provider_id"] for row in practice.operatories] == ["DDS1|DDS2", "DDS1|DDS2", "HYG1", "HYG1", ""]
    assert {row["provider_id"] for row in state.practice(DEMO_OFFICE_ID).operatories} == {""}


@pytest.mark.anyio
async def test_authorized_practices_lists_the_second_location_with_show_all(client: httpx.AsyncClient) -> None:
    default = await items(client, "/v4/authorized_practices", APP_HEADERS)
    assert [row["practice_id"] for row in default] == ["1"]
    every = await items(client, "/v4/authorized_practices", APP_HEADERS, show="all")
    assert [row["practice_id"] for row in every] == ["1", "2"]


@pytest.mark.anyio
async def test_practice_location_access(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    listing = await items(client, "/v4/practice_location", APP_HEADERS, office_id=DEMO_OFFICE_ID)
    assert [(row["practice_id"], row["access"]) for row in listing] == [("1", "on"), ("2", "on")]
    body = {"office_id": DEMO_OFFICE_ID, "practice_id": "2", "access": "OFF"}
    response = await client.post("/v4/practice_location", headers=APP_HEADERS, json=body)
    assert (response.status_code, error_code(response)) == (200, "API4006")
    assert response.json()["long_message"] == "Practice location(s) updated successfully"
    listing = await items(client, "/v4/practice_location", APP_HEADERS, office_id=DEMO_OFFICE_ID)
    assert [row["access"] for row in listing] == ["on", "off"]
    assert {row["practice_id"] for row in await items(client, "/v4/patients", headers)} == {"1"}
    named = await client.get("/v4/patients", headers=headers, params={"practice_id": "2"})
    assert (named.status_code, error_code(named)) == (401, "API2007")
    booking = {"practice_id": "2", "patient_id": "1", "date": "2026-12-02", "time": "09:00", "length": "30"}
    assert error_code(await client.post("/v4/appointment", headers=headers, json=booking)) == "API2007"
    both = {"office_id": DEMO_OFFICE_ID, "practice_id": "1,2", "access": "ON"}
    assert (await client.post("/v4/practice_location", headers=APP_HEADERS, json=both)).status_code == 200
    assert len(await items(client, "/v4/practices", headers)) == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"practice_id": "1", "access": "ON"}, "API1020"),
        ({"office_id": DEMO_OFFICE_ID, "practice_id": "1", "access": "on"}, "API1026"),
        ({"office_id": DEMO_OFFICE_ID, "practice_id": "1-1", "access": "ON"}, "API1026"),
        ({"office_id": DEMO_OFFICE_ID, "practice_id": "1,9", "access": "OFF"}, "API1026"),
    ],
)
async def test_practice_location_refuses(
    state: SandboxState, client: httpx.AsyncClient, body: dict[str, str], code: str
) -> None:
    response = await client.post("/v4/practice_location", headers=APP_HEADERS, json=body)
    assert error_code(response) == code
    assert all(practice.access for practice in state.practices(DEMO_OFFICE_ID))


@pytest.mark.anyio
async def test_practice_location_needs_app_credentials_and_an_office(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert error_code(await client.get("/v4/practice_location", headers=APP_HEADERS)) == "API1020"
    body = {"office_id": DEMO_OFFICE_ID, "practice_id": "1", "access": "OFF"}
    assert (await client.post("/v4/practice_location", headers=headers, json=body)).status_code == 401


@pytest.mark.anyio
async def test_a_location_added_later_waits_for_its_data(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    state.add_practice(DEMO_OFFICE_ID, "3", secret_key="x" * 32, name="Happy Dental Queens", uploaded=False)
    (row,) = await items(client, "/v4/authorized_practices", APP_HEADERS, show="all", practice_id="3")
    assert row["data_insert_date"] == ""
    for params in ({"practice_id": "3"}, {}):
        waiting = await client.get("/v4/appointments", headers=headers, params=params)
        assert (waiting.status_code, error_code(waiting)) == (500, "API2010")
    assert len(await items(client, "/v4/patients", headers, practice_id="1")) == 200
    state.set_uploaded(DEMO_OFFICE_ID, "3")
    (row,) = await items(client, "/v4/authorized_practices", APP_HEADERS, show="all", practice_id="3")
    assert row["data_insert_date"] == "2026-11-25T10:00:00"
    assert len(await items(client, "/v4/patients", headers, practice_id="3")) == 200
    providers = {row["provider_id"] for row in await items(client, "/v4/providers", headers, practice_id="3")}
    assert providers == {"DDS4", "HYG3", "STF3"}


@pytest.mark.anyio
async def test_a_location_can_arrive_with_its_access_off(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    state.add_practice(DEMO_OFFICE_ID, "3", secret_key="x" * 32, name="Happy Dental Queens", access=False)
    listing = await items(client, "/v4/practice_location", APP_HEADERS, office_id=DEMO_OFFICE_ID)
    assert [(row["practice_id"], row["access"]) for row in listing] == [("1", "on"), ("2", "on"), ("3", "off")]
    named = await client.get("/v4/patients", headers=headers, params={"practice_id": "3"})
    assert (named.status_code, error_code(named)) == (401, "API2007")
    body = {"office_id": DEMO_OFFICE_ID, "practice_id": "3", "access": "ON"}
    assert (await client.post("/v4/practice_location", headers=APP_HEADERS, json=body)).status_code == 200
    assert len(await items(client, "/v4/patients", headers, practice_id="3")) == 200


@pytest.mark.anyio
async def test_data_insert_header(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for endpoint in ("patients", "appointments"):
        response = await client.get(f"/v4/{endpoint}", headers=headers)
        assert response.headers["Data-Insert"] == "completed"
    assert "Data-Insert" not in (await client.get("/v4/providers", headers=headers)).headers
    state.set_reloading(DEMO_OFFICE_ID, DEMO_SECOND_PRACTICE_ID, True)
    assert (await client.get("/v4/patients", headers=headers)).headers["Data-Insert"] == "in progress"
    first = await client.get("/v4/appointments", headers=headers, params={"practice_id": "1"})
    assert first.headers["Data-Insert"] == "completed"
    empty = await client.get("/v4/patients", headers=headers, params={"practice_id": "2", "lastname": "Nobody"})
    assert (empty.status_code, empty.headers["Data-Insert"]) == (204, "in progress")


@pytest.mark.parametrize("status", ["Active", "Cancelled"])
def test_registration_handshake(state: SandboxState, clock: FakeClock, status: str) -> None:
    practice = state.practice(DEMO_OFFICE_ID)
    clock.advance(3600)
    body = registration_handshake(practice, status, at=clock())
    assert list(body)[:9] == [
        "Source",
        "MasterCustomerID",
        "PracticeID",
        "SPUInstallationKey",
        "EmailAddress",
        "PracticeName",
        "PartnerRegistrationID",
        "Status",
        "PurchaseDate",
    ]
    assert (body["Source"], body["MasterCustomerID"], body["PracticeName"], body["Status"]) == (
        "Sikka",
        DEMO_OFFICE_ID,
        "Happy Dental Clinic",
        status,
    )
    assert body["PurchaseDate"] == "11/25/2026 10:00:00 AM"
    assert body["CancelDate"] == ("" if status == "Active" else "11/25/2026 11:00:00 AM")
    assert all(isinstance(value, str) for value in body.values())
    assert body == registration_handshake(practice, status, at=clock())
    other = registration_handshake(state.practice(DEMO_OFFICE_ID, DEMO_SECOND_PRACTICE_ID))
    assert other["SPUInstallationKey"] != body["SPUInstallationKey"]
    with pytest.raises(ValueError, match="status"):
        registration_handshake(practice, "Paused")
