"""Every response has the documented shape: the example's keys, in its order, and only string values."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, DEMO_PRACTICE_ID, SandboxState
from sandbox.envelopes import envelope
from tests.sandbox.support import (
    APP_HEADERS,
    EXAMPLES,
    all_strings,
    example,
    example_item_keys,
    issue_key,
    key_headers,
)

ORTHO_OFFICE, ORTHO_SECRET = "D40000", "0123456789abcdef0123456789abcdef"

KEY_ENDPOINTS = [
    "patients",
    "appointments",
    "providers",
    "operatories",
    "practice_schedule",
    "appointment_statuses",
    "practice_variables",
    "appointments_available_slots",
]
APP_ENDPOINTS = ["authorized_practices", "practice_location"]


@pytest.fixture
async def ortho_headers(state: SandboxState, client: httpx.AsyncClient) -> dict[str, str]:
    """Request-Key headers for an OrthoTrac practice (the only kind with available slots)."""
    state.add_practice(ORTHO_OFFICE, secret_key=ORTHO_SECRET, name="Bright Smiles Ortho", pms="OrthoTrac")
    return await key_headers(client, ORTHO_OFFICE, ORTHO_SECRET)


def example_named(file: str, prefix: str) -> dict[str, str]:
    """The documented example of `file` whose name starts with `prefix`."""
    examples = json.loads((EXAMPLES / file).read_text())
    body: dict[str, str] = next(value for name, value in examples.items() if name.startswith(prefix))
    return body


def assert_documented(body: dict[str, Any], file: str, name: str) -> None:
    documented = example(file, name)
    documented = documented[0] if isinstance(documented, list) else documented
    assert list(body) == list(documented)
    assert list(body["pagination"]) == list(documented["pagination"])
    assert body["items"]
    for item in body["items"]:
        assert list(item) == example_item_keys(file, name)
    assert all_strings(body)


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", KEY_ENDPOINTS)
@pytest.mark.parametrize("get_all", [False, True])
async def test_data_endpoints_have_the_documented_keys(
    state: SandboxState, client: httpx.AsyncClient, ortho_headers: dict[str, str], endpoint: str, get_all: bool
) -> None:
    params = {"fields": "get_all"} if get_all else {}
    if endpoint == "operatories":
        params["cust_id"] = state.practice(ORTHO_OFFICE).cust_id
    response = await client.get(f"/v4/{endpoint}", headers=ortho_headers, params=params)
    assert response.status_code == 200
    name = f"{endpoint}?fields=get_all" if get_all else endpoint
    assert_documented(response.json(), f"{endpoint}.json", name)


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", APP_ENDPOINTS)
@pytest.mark.parametrize("get_all", [False, True])
async def test_support_endpoints_have_the_documented_keys(
    client: httpx.AsyncClient, endpoint: str, get_all: bool
) -> None:
    params = {"fields": "get_all", "office_id": DEMO_OFFICE_ID} if get_all else {"office_id": DEMO_OFFICE_ID}
    response = await client.get(f"/v4/{endpoint}", headers=APP_HEADERS, params=params)
    assert response.status_code == 200
    name = f"{endpoint}?fields=get_all" if get_all else endpoint
    assert_documented(response.json(), f"{endpoint}.json", name)


@pytest.mark.anyio
async def test_fields_adds_get_all_keys_to_the_default_set(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/v4/appointments", headers=headers, params={"fields": "operatory,cancelled"})
    item = response.json()["items"][0]
    assert list(item) == [*example_item_keys("appointments.json", "appointments"), "operatory", "cancelled"]


@pytest.mark.anyio
async def test_writeback_status_is_an_array_wrapped_envelope(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    receipt = await client.post(
        "/v4/patient",
        headers=headers,
        json={
            "firstname": "Ada",
            "lastname": "Byron",
            "provider_id": "DDS1",
            "practice_id": DEMO_PRACTICE_ID,
        },
    )
    writeback_id = receipt.json()["long_message"].removeprefix("Id:")
    response = await client.get("/v4/writeback_status", headers=headers, params={"id": writeback_id})
    body = response.json()
    assert isinstance(body, list)
    assert len(body) == 1
    assert_documented(body[0], "writeback_status.json", "writeback_status")


@pytest.mark.anyio
async def test_writebacks_listing_has_the_documented_keys(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    await client.post(
        "/v4/patient",
        headers=headers,
        json={
            "firstname": "Ada",
            "lastname": "Byron",
            "provider_id": "DDS1",
            "practice_id": DEMO_PRACTICE_ID,
        },
    )
    params = {"startdate": "2026-11-25", "enddate": "2026-11-25"}
    response = await client.get("/v4/writebacks", headers=APP_HEADERS, params=params)
    assert_documented(response.json(), "writebacks.json", "GET /writebacks: writebacks")


@pytest.mark.anyio
async def test_request_key_responses_match_the_examples(client: httpx.AsyncClient) -> None:
    issued = await issue_key(client)
    assert list(issued) == list(example("request_key.json", "POST /request_key (grant_type=request_key) response"))
    assert all_strings(issued)
    deleted = await client.delete("/v4/request_key", headers={"Request-Key": issued["request_key"]})
    assert deleted.json() == example("request_key.json", "DELETE /request_key response")


BOOKING = {
    "patient_id": "10001",
    "date": "2026-12-01",
    "time": "07:00",
    "length": "30",
    "provider_id": "DDS1",
    "operatory": "OP1",
    "practice_id": DEMO_PRACTICE_ID,
    "description": "Exam",
}
CANCEL = {
    "op": "replace",
    "path": "/appointment_status",
    "value": "cancel.patient",
    "practice_id": DEMO_PRACTICE_ID,
}
NEW_PATIENT = {
    "firstname": "Ada",
    "lastname": "Byron",
    "provider_id": "DDS1",
    "practice_id": DEMO_PRACTICE_ID,
}
MOVE = {"practice_id": DEMO_PRACTICE_ID, "provider_id": "DDS1", "time": "07:00"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path", "payload", "file", "documented"),
    [
        ("POST", "/v4/appointment", BOOKING, "appointment_writeback.json", "POST /appointment"),
        ("PUT", "/v4/appointments/70001", MOVE, "appointment_writeback.json", "PUT /appointments"),
        ("PATCH", "/v4/appointments/70001", CANCEL, "appointment_writeback.json", "PATCH /appointments"),
        ("POST", "/v4/patient", NEW_PATIENT, "patient_writeback.json", "POST /patient"),
        (
            "PATCH",
            "/v4/patient/{ortho_patient}",
            {"practice_id": "1", "staff": "STF1", "preferred_name": "Bea"},
            "patient_writeback.json",
            "PATCH /patient",
        ),
    ],
)
async def test_receipts_match_the_examples(
    state: SandboxState,
    client: httpx.AsyncClient,
    headers: dict[str, str],
    ortho_headers: dict[str, str],
    method: str,
    path: str,
    payload: dict[str, str],
    file: str,
    documented: str,
) -> None:
    ortho_patient = next(iter(state.practice(ORTHO_OFFICE).patients))
    call_headers = ortho_headers if "{ortho_patient}" in path else headers
    url = path.format(ortho_patient=ortho_patient)
    response = await client.request(method, url, headers=call_headers, json=payload)
    body, expected = response.json(), example_named(file, documented)
    assert response.status_code == int(expected["http_code"])
    assert body.keys() == expected.keys()
    assert all_strings(body)
    for field in ("http_code", "http_code_desc", "error_code", "short_message"):
        assert body[field] == expected[field]
    writeback_id = body["long_message"].removeprefix("Id:")
    assert writeback_id.isdigit()
    assert body["more_information"] == f"http://sandbox/v4/writeback_status?id={writeback_id}"


@pytest.mark.anyio
async def test_unknown_request_key_gets_the_documented_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/v4/patients", headers={"Request-Key": "nope"})
    assert response.status_code == 400
    assert response.json() == example("errors.json", "POST /appointment: appointment - if failed")


def test_error_envelopes_follow_the_documented_catalog() -> None:
    catalog = json.loads((EXAMPLES / "errors.json").read_text())
    rows = next(value for name, value in catalog.items() if name.startswith("error_code_catalog"))
    for row in rows:
        assert envelope(row["error_code"]) == row
        assert list(envelope(row["error_code"])) == list(
            example("errors.json", "POST /transaction: transaction - If failed")
        )


def documented(fields: str) -> list[str]:
    return fields.split()


PRACTICE_KEYS = documented("""
    href patient_href provider_href appointment_href guarantor_href transaction_href practice_id name description
    address_line1 address_line2 city state zipcode phone email cust_id
""")
BALANCE_KEYS = documented("""
    patient_id firstname lastname practice_id practice_name customer_id chart_number current_date
    patient_amount_less_than_30 patient_amount_between_30_60 patient_amount_between_60_90
    patient_amount_greater_than_90 insurance_amount_less_than_30 insurance_amount_between_30_60
    insurance_amount_between_60_90 insurance_amount_greater_than_90 patient_balance unapplied insurance_due
    patient_due account_balance write_off
""")
USER_KEYS = documented("""
    href user_id firstname lastname address_line1 address_line2 city state zipcode phone specialty specialty_code
    status email birthdate hire_date practice_id practice_href cust_id
""")
COMPANY_KEYS = documented("""
    href insurance_company_id payer_id address_line1 address_line2 city state zipcode country phone fax employer_id
    employer_href default_employer practice_id practice_href fee_no group_plan_number maximum_yearly_benefit
    maximum_family_benefit renew_month insurance_type plan_type sub_type is_maximum_coverage maximum_coverage_amount
    family_deductible_limit individual_deductible_limit individual_ortho_maximum_limit charge_per_visit notes
    insurance_plan_status mail_to_insurance_company_id pre_authorization_mail_to_insurance_company_id eligibility
""")
COVERAGE_KEYS = documented("""
    href practice_id practice_href insurance_company_id insurance_company_href procedure_code_from procedure_code_to
    co_pay percentage_covered category deductible is_deductible
""")
DETAIL_KEYS = documented("href practice_id practice_href description cust_id category item")
FLAGS = [
    f"{name}_writeback"
    for name in documented(
        "appointment_status payment new_appointment new_patient note claim_notes_status insurance_payment lab_result"
    )
]
PMS_KEYS = [
    *documented(
        "specialty domain practice_management_system practice_management_system_version"
        " display_practice_management_system_name"
    ),
    *FLAGS,
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("endpoint", "params", "default", "extra"),
    [
        ("practices", {}, PRACTICE_KEYS, ["country", "national_provider_identifier", "website", "is_main_office"]),
        ("pms_users", {}, USER_KEYS, ["country"]),
        ("patient_balance", {}, BALANCE_KEYS, []),
        (
            "insurance_companies",
            {},
            COMPANY_KEYS,
            ["insurance_company_name", "group_plan_name", "carrier_id", "cust_id", "rendering_provider_address"],
        ),
        ("insurance_plan_coverage", {}, COVERAGE_KEYS, []),
        ("writeback_details", {"writeback_type": "new_appointment"}, DETAIL_KEYS, []),
    ],
)
async def test_endpoints_without_examples_have_the_documented_fields(
    client: httpx.AsyncClient,
    ortho_headers: dict[str, str],
    endpoint: str,
    params: dict[str, str],
    default: list[str],
    extra: list[str],
) -> None:
    """No example body exists: the keys are sikka-reference.md's field lists, in its order."""
    plain = (await client.get(f"/v4/{endpoint}", headers=ortho_headers, params=params)).json()
    every = (await client.get(f"/v4/{endpoint}", headers=ortho_headers, params={**params, "fields": "get_all"})).json()
    assert [list(item) for item in plain["items"]] == [default] * len(plain["items"])
    assert [list(item) for item in every["items"]] == [default + extra] * len(every["items"])
    assert all_strings(plain)
    assert all_strings(every)


@pytest.mark.anyio
@pytest.mark.parametrize("get_all", [False, True])
async def test_supported_pmses_have_the_documented_fields(client: httpx.AsyncClient, get_all: bool) -> None:
    params = {"fields": "get_all"} if get_all else {}
    body = (await client.get("/v4/supported_pmses", headers=APP_HEADERS, params=params)).json()
    assert {tuple(item) for item in body["items"]} == {tuple(PMS_KEYS)}
    assert all_strings(body)
