"""Filters, RQL `find=` and field selection."""

from __future__ import annotations

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, SandboxState
from sandbox.envelopes import SikkaError
from sandbox.query import parse_find
from tests.sandbox.support import APP_HEADERS, error_code, items

PERSON = {
    "firstname": "Carlene",
    "lastname": "Victoria",
    "birthdate": "1984-12-10T00:00:00",
    "cell": "408-555-0101",
    "homephone": "",
    "age": "41",
}


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        ("birthdate=eq_1984-12-10", True),
        ("birthdate=eq_1984-12-11", False),
        ("birthdate=gt_1984-01-01", True),
        ("birthdate=lte_1984-12-09", False),
        ("firstname=eq_carlene", True),
        ("firstname=neq_Carlene", False),
        ("firstname=like_car%", True),
        ("firstname=like_c_rlene", True),
        ("firstname=like_%LEN%", True),
        ("firstname=like_arl%", False),
        ("cell=like_%408%555%0101::OR::homephone=like_%408%555%0101", True),
        ("homephone=like_%408%::OR::cell=like_%999%", False),
        ("age=gt_9", True),  # numbers compare as numbers, not text
        ("age=lt_100", True),
        ("firstname=eq_Carlene::AND::lastname=eq_Nope", False),
        # AND binds tighter than OR: (false AND true) OR true, then true OR (false AND ...)
        ("firstname=eq_Nope::AND::lastname=eq_Victoria::OR::age=eq_41", True),
        ("age=eq_41::OR::firstname=eq_Nope::AND::lastname=eq_Nope", True),
        ("firstname=eq_Nope::OR::lastname=eq_Victoria::AND::age=eq_40", False),
        ("unknown=eq_", True),
    ],
)
def test_find_expressions(expression: str, matches: bool) -> None:
    assert parse_find(expression)(PERSON) is matches


@pytest.mark.parametrize("expression", ["firstname=is_Carlene", "firstname", "birthdate=between_1_2"])
def test_invalid_find_is_api1026(expression: str) -> None:
    with pytest.raises(SikkaError) as raised:
        parse_find(expression)
    assert raised.value.code == "API1026"


@pytest.fixture
def patient(state: SandboxState) -> dict[str, str]:
    """A demo patient with a cell phone and a home phone."""
    return next(p for p in state.practice(DEMO_OFFICE_ID).patients.values() if p["cell"] and p["homephone"])


@pytest.mark.anyio
async def test_find_birthdate_over_http(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str]
) -> None:
    rows = await items(client, "/v4/patients", headers, find=f"birthdate=eq_{patient['birthdate'][:10]}")
    assert patient["patient_id"] in {row["patient_id"] for row in rows}
    assert {row["birthdate"] for row in rows} == {patient["birthdate"]}


@pytest.mark.anyio
async def test_find_like_across_phone_fields(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str]
) -> None:
    pattern = "%" + "%".join(patient["homephone"].split("-"))
    find = f"cell=like_{pattern}::OR::homephone=like_{pattern}"
    rows = await items(client, "/v4/patients", headers, find=find)
    assert [row["patient_id"] for row in rows] == [patient["patient_id"]]


@pytest.mark.anyio
async def test_bad_find_over_http(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/v4/patients", headers=headers, params={"find": "lastname=sounds_like_x"})
    assert (response.status_code, error_code(response)) == (400, "API1026")


@pytest.mark.anyio
async def test_filters_work_on_get_all_only_fields(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str]
) -> None:
    rows = await items(client, "/v4/patients", headers, homephone=patient["homephone"])
    assert [row["patient_id"] for row in rows] == [patient["patient_id"]]
    assert "homephone" not in rows[0]
    by_find = await items(client, "/v4/appointments", headers, find="operatory=eq_OP3", fields="get_all")
    assert by_find
    assert {row["operatory"] for row in by_find} == {"OP3"}


@pytest.mark.anyio
@pytest.mark.parametrize("param", ["cell", "phone"])
async def test_phone_filters_ignore_formatting(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str], param: str
) -> None:
    digits = patient["cell"].replace("-", "")
    for value in (patient["cell"], digits, f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"):
        rows = await items(client, "/v4/patients", headers, **{param: value})
        assert [row["patient_id"] for row in rows] == [patient["patient_id"]]


@pytest.mark.anyio
async def test_search(client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str]) -> None:
    by_name = await items(client, "/v4/patients", headers, search=patient["lastname"].upper())
    assert patient["patient_id"] in {row["patient_id"] for row in by_name}
    assert all(patient["lastname"].lower() in str(row).lower() for row in by_name)
    by_phone = await items(client, "/v4/patients", headers, search=patient["cell"].replace("-", " "))
    assert [row["patient_id"] for row in by_phone] == [patient["patient_id"]]


@pytest.mark.anyio
async def test_exact_filters_are_case_insensitive(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    inactive = await items(client, "/v4/patients", headers, status="inactive")
    assert inactive
    assert {row["status"] for row in inactive} == {"Inactive"}
    providers = await items(client, "/v4/providers", headers, status="ACTIVE")
    assert sorted(row["provider_id"] for row in providers) == ["DDS1", "DDS2", "HYG1"]


@pytest.mark.anyio
async def test_appointment_date_range_is_inclusive(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    rows = await items(
        client, "/v4/appointments", headers, startdate="2026-12-01", enddate="2026-12-02", provider_id="DDS2"
    )
    assert {row["date"] for row in rows} == {"2026-12-01T00:00:00", "2026-12-02T00:00:00"}
    assert {row["provider_id"] for row in rows} == {"DDS2"}
    response = await client.get("/v4/appointments", headers=headers, params={"startdate": "12/01/2026"})
    assert error_code(response) == "API1026"


@pytest.mark.anyio
async def test_one_patient_by_id(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    (row,) = await items(client, "/v4/patients", headers, patient_id="10005")
    assert row["patient_id"] == "10005"


@pytest.mark.anyio
async def test_appointment_statuses_two_ways(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    statuses = [row["status"] for row in await items(client, "/v4/appointment_statuses", headers)]
    variables = await items(client, "/v4/practice_variables", headers, service_name="Appointment Status")
    assert statuses == [row["value"] for row in variables]
    assert statuses == ["Scheduled", "Confirmed", "Arrived", "Complete", "Broken", "Canceled"]


@pytest.mark.anyio
async def test_writeback_details_lists_appointment_types(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    types = await items(client, "/v4/writeback_details", headers, writeback_type="new_appointment", category="appttype")
    assert {"Cleaning", "Exam", "Emergency"} <= {row["value"] for row in types}
    assert all(row["length"].isdigit() for row in types)


@pytest.mark.anyio
async def test_supported_pmses(client: httpx.AsyncClient) -> None:
    rows = await items(client, "/v4/supported_pmses", APP_HEADERS)
    flags = {row["practice_management_system"]: row for row in rows}
    assert flags["Dentrix"]["new_appointment_writeback"] == "True"
    assert flags["Dentrix"]["patient_update_writeback"] == "False"
    assert flags["OrthoTrac"]["patient_update_writeback"] == flags["Dolphin"]["patient_update_writeback"] == "True"


@pytest.mark.anyio
async def test_available_slots(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert (await client.get("/v4/appointments_available_slots", headers=headers)).status_code == 204
    state.practice(DEMO_OFFICE_ID).pms = "Dolphin"
    slots = await items(client, "/v4/appointments_available_slots", headers, fields="get_all")
    assert slots
    assert {row["provider_id"] for row in slots} == {"DDS1", "DDS2", "HYG1"}
    booked = {
        (row["date"], row["provider_id"], row["time"])
        for row in state.practice(DEMO_OFFICE_ID).appointments.values()
        if row["cancelled"] == "False"
    }
    assert not booked & {(row["date"], row["provider_id"], row["time"]) for row in slots}
    today = [row for row in slots if row["date"] == "2026-11-25T00:00:00"]
    assert min(row["time"] for row in today) >= "10:00"
