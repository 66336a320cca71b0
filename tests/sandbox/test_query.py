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
        # like_ is "starts with" (§6), case-sensitive, % and _ literal (§23.4)
        ("firstname=like_Car", True),
        ("firstname=like_car", False),
        ("firstname=like_Car%", False),
        ("firstname=like_C_rlene", False),
        ("firstname=like_arl", False),
        ("cell=like_408-555::OR::homephone=like_408-555", True),
        ("homephone=like_408::OR::cell=like_999", False),
        ("age=gt_9", True),  # numbers compare as numbers, not text
        ("age=lt_100", True),
        ("firstname=eq_Carlene::AND::lastname=eq_Nope", False),
        # strictly left to right, no precedence: ((false AND true) OR true), ((true OR false) AND false)
        ("firstname=eq_Nope::AND::lastname=eq_Victoria::OR::age=eq_41", True),
        ("age=eq_41::OR::firstname=eq_Nope::AND::lastname=eq_Nope", False),
        ("firstname=eq_Nope::OR::lastname=eq_Victoria::AND::age=eq_41", True),
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
    """A demo patient who is their own guarantor, with a cell phone, a home phone and an email."""
    return next(
        p
        for p in state.practice(DEMO_OFFICE_ID).patients.values()
        if p["cell"] and p["homephone"] and p["email"] and p["guarantor_id"] == p["patient_id"]
    )


@pytest.mark.anyio
async def test_find_birthdate_over_http(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str]
) -> None:
    rows = await items(client, "/v4/patients", headers, find=f"birthdate=eq_{patient['birthdate'][:10]}")
    assert patient["patient_id"] in {row["patient_id"] for row in rows}
    assert {row["birthdate"] for row in rows} == {patient["birthdate"]}


@pytest.mark.anyio
async def test_find_like_is_a_case_sensitive_prefix(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str]
) -> None:
    prefix = patient["lastname"][:3]
    rows = await items(client, "/v4/patients", headers, find=f"lastname=like_{prefix}")
    assert patient["patient_id"] in {row["patient_id"] for row in rows}
    assert all(row["lastname"].startswith(prefix) for row in rows)
    assert not await items(client, "/v4/patients", headers, find=f"lastname=like_{prefix.lower()}")
    assert not await items(client, "/v4/patients", headers, find=f"lastname=like_%{prefix[1:]}")


@pytest.mark.anyio
async def test_bad_find_over_http(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/v4/patients", headers=headers, params={"find": "lastname=sounds_like_x"})
    assert (response.status_code, error_code(response)) == (400, "API1026")


@pytest.mark.anyio
async def test_filters_work_on_get_all_only_fields(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str]
) -> None:
    rows = await items(client, "/v4/patients", headers, homephone=patient["homephone"])
    assert patient["patient_id"] in [row["patient_id"] for row in rows]
    assert "homephone" not in rows[0]
    by_find = await items(client, "/v4/appointments", headers, find="operatory=eq_OP3", fields="get_all")
    assert by_find
    assert {row["operatory"] for row in by_find} == {"OP3"}


def reformatted(phone: str) -> list[str]:
    """The same number in the other two stored formats."""
    digits = "".join(char for char in phone if char.isdigit())
    forms = [f"{digits[:3]}-{digits[3:6]}-{digits[6:]}", f"({digits[:3]}) {digits[3:6]}-{digits[6:]}", digits]
    return [form for form in forms if form != phone]


@pytest.mark.anyio
@pytest.mark.parametrize("param", ["cell", "homephone"])
async def test_phone_filters_match_the_stored_string_only(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str], param: str
) -> None:
    rows = await items(client, "/v4/patients", headers, **{param: patient[param]})
    assert patient["patient_id"] in [row["patient_id"] for row in rows]
    for other in reformatted(patient[param]):
        assert not await items(client, "/v4/patients", headers, **{param: other})


@pytest.mark.anyio
async def test_phone_filter_is_ignored(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str]
) -> None:
    everyone = await items(client, "/v4/patients", headers)
    assert len(await items(client, "/v4/patients", headers, phone=patient["cell"])) == len(everyone)


@pytest.mark.anyio
async def test_a_shared_family_phone_finds_the_family(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    dependent = next(
        p for p in state.practice(DEMO_OFFICE_ID).patients.values() if p["guarantor_id"] != p["patient_id"]
    )
    rows = await items(client, "/v4/patients", headers, cell=dependent["cell"])
    assert {dependent["patient_id"], dependent["guarantor_id"]} <= {row["patient_id"] for row in rows}
    assert len(rows) >= 3


@pytest.mark.anyio
async def test_search_matches_a_whole_value_case_insensitively(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str]
) -> None:
    by_name = await items(client, "/v4/patients", headers, search=patient["lastname"].upper(), fields="get_all")
    assert patient["patient_id"] in {row["patient_id"] for row in by_name}
    searched = (
        "firstname",
        "lastname",
        "middlename",
        "email",
        "city",
        "state",
        "zipcode",
        "homephone",
        "workphone",
        "cell",
    )
    assert all(any(row[f].casefold() == patient["lastname"].casefold() for f in searched) for row in by_name)
    assert not await items(client, "/v4/patients", headers, search=patient["lastname"][:-1])
    by_phone = await items(client, "/v4/patients", headers, search=patient["homephone"])
    assert patient["patient_id"] in {row["patient_id"] for row in by_phone}
    for other in reformatted(patient["homephone"]):
        assert patient["patient_id"] not in {
            row["patient_id"] for row in await items(client, "/v4/patients", headers, search=other)
        }


@pytest.mark.anyio
async def test_search_skips_preferred_name(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    patients = state.practice(DEMO_OFFICE_ID).patients.values()
    nickname = next(p["preferred_name"] for p in patients if p["preferred_name"])
    holders = {p["patient_id"] for p in patients if p["preferred_name"] == nickname}
    found = {row["patient_id"] for row in await items(client, "/v4/patients", headers, search=nickname)}
    assert not holders & found


@pytest.mark.anyio
async def test_exact_filters_are_case_insensitive(
    client: httpx.AsyncClient, headers: dict[str, str], patient: dict[str, str]
) -> None:
    inactive = await items(client, "/v4/patients", headers, status="inactive")
    assert inactive
    assert {row["status"] for row in inactive} == {"Inactive"}
    providers = await items(client, "/v4/providers", headers, status="ACTIVE", practice_id="1")
    assert sorted(row["provider_id"] for row in providers) == ["DDS1", "DDS2", "HYG1", "STF1"]
    staff = await items(client, "/v4/providers", headers, provider_type="staff", is_user="true")
    assert sorted(row["provider_id"] for row in staff) == ["STF1", "STF2"]
    rows = await items(
        client, "/v4/patients", headers, lastname=patient["lastname"].lower(), email=patient["email"].upper()
    )
    assert [row["patient_id"] for row in rows] == [patient["patient_id"]]
    family = await items(client, "/v4/patients", headers, guarantor_id=patient["guarantor_id"])
    assert patient["patient_id"] in {row["patient_id"] for row in family}


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
async def test_appointment_statuses_and_practice_variables(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    statuses = [row["status"] for row in await items(client, "/v4/appointment_statuses", headers, practice_id="1")]
    assert statuses == ["Scheduled", "Confirmed", "Arrived", "Complete", "Broken", "Canceled"]
    variables = await items(
        client, "/v4/practice_variables", headers, service_name="Appointment Status", practice_id="1"
    )
    assert [row["description"] for row in variables] == statuses
    values = [row["value"] for row in variables]
    assert values == [
        "open.unconfirm",
        "open.confirm",
        "open.arrived",
        "complete.confirm",
        "broken.noshow",
        "cancel.patient",
    ]
    assert not set(values) & set(statuses)


@pytest.mark.anyio
async def test_supported_pmses(client: httpx.AsyncClient) -> None:
    rows = await items(client, "/v4/supported_pmses", APP_HEADERS)
    flags = {row["practice_management_system"]: row for row in rows}
    assert set(flags) == {
        "Dentrix", "Eaglesoft", "Open Dental", "OrthoTrac", "Dolphin", "ClearDent", "Planet DDS", "CornerStone",
        "Curve Dental",
    }  # fmt: skip
    assert {value for row in rows for key, value in row.items() if key.endswith("_writeback")} == {"available", ""}
    assert flags["Dentrix"]["new_appointment_writeback"] == "available"
    assert flags["Planet DDS"]["new_patient_writeback"] == ""
    assert all(value == "" for key, value in flags["Curve Dental"].items() if key.endswith("_writeback"))
    assert not {"appointment_reschedule_writeback", "patient_update_writeback"} & set(rows[0])
    patients = await items(client, "/v4/supported_pmses", APP_HEADERS, new_patient_writeback="available")
    assert "Planet DDS" not in {row["practice_management_system"] for row in patients}
    assert "Dentrix" in {row["practice_management_system"] for row in patients}
    (one,) = await items(client, "/v4/supported_pmses", APP_HEADERS, practice_management_system="orthotrac")
    assert one["display_practice_management_system_name"] == "OrthoTrac"


@pytest.mark.anyio
async def test_available_slots(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert (await client.get("/v4/appointments_available_slots", headers=headers)).status_code == 204
    state.practice(DEMO_OFFICE_ID).pms = "Dolphin"
    slots = await items(client, "/v4/appointments_available_slots", headers, fields="get_all")
    assert slots
    assert {row["provider_id"] for row in slots} == {"DDS1", "DDS2", "HYG1"}
    assert {row["operatory"] for row in slots} <= {"OP1", "OP2", "OP3", "OP4"}
    booked = {
        (row["date"], row["provider_id"], row["time"])
        for row in state.practice(DEMO_OFFICE_ID).appointments.values()
        if row["cancelled"] == "False"
    }
    assert not booked & {(row["date"], row["provider_id"], row["time"]) for row in slots}
    today = [row for row in slots if row["date"] == "2026-11-25T00:00:00"]
    assert min(row["time"] for row in today) >= "10:00"
