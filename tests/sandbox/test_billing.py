"""Balances and insurance (§11): patient_balance, insurance_companies, insurance_plan_coverage."""

from __future__ import annotations

import re

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, SandboxState
from tests.sandbox.support import items

AMOUNT = re.compile(r"\d+\.\d{4}")
CARRIERS = {"Delta Dental of Illinois", "MetLife", "Cigna Dental", "Aetna Dental", "Guardian", "United Concordia"}


@pytest.mark.anyio
async def test_balances(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    rows = await items(client, "/v4/patient_balance", headers, practice_id="1")
    assert len(rows) == 200
    amounts = [value for row in rows for key, value in row.items() if key not in {"current_date"} and "." in value]
    assert all(AMOUNT.fullmatch(value) for value in amounts)
    assert {row["current_date"] for row in rows} == {"2026-11-25T00:00:00"}
    owing = [row for row in rows if row["account_balance"] != "0.0000"]
    assert 2 <= len(owing) <= 20
    assert any(row["patient_balance"] == "125.5000" for row in owing)
    patients = state.practice(DEMO_OFFICE_ID).patients
    (family,) = [row for row in owing if row["patient_balance"] == "210.0000"]
    assert (family["insurance_due"], family["account_balance"]) == ("80.0000", "290.0000")
    dependents = [p for p in patients.values() if p["guarantor_id"] == family["patient_id"] != p["patient_id"]]
    assert dependents
    for dependent in dependents:
        (row,) = await items(client, "/v4/patient_balance", headers, patient_id=dependent["patient_id"])
        assert row["account_balance"] == row["patient_balance"] == "0.0000"


@pytest.mark.anyio
async def test_balance_by_customer(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    second = state.practices(DEMO_OFFICE_ID)[1]
    rows = await items(client, "/v4/patient_balance", headers, customer_id=second.cust_id)
    assert {(row["practice_id"], row["practice_name"]) for row in rows} == {("2", "Happy Dental Clinic Brooklyn")}


@pytest.mark.anyio
async def test_insurance_companies(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    plain = await items(client, "/v4/insurance_companies", headers, practice_id="1")
    assert 4 <= len(plain) <= 5
    assert "insurance_company_name" not in plain[0]
    named = await items(client, "/v4/insurance_companies", headers, practice_id="1", fields="get_all")
    assert {row["insurance_company_name"] for row in named} <= CARRIERS
    assert all(AMOUNT.fullmatch(row["maximum_yearly_benefit"]) for row in named)
    (one,) = await items(
        client, "/v4/insurance_companies", headers, insurance_company_id=named[0]["insurance_company_id"]
    )
    assert one["payer_id"] == named[0]["payer_id"]


@pytest.mark.anyio
async def test_coverage(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    company = (await items(client, "/v4/insurance_companies", headers, practice_id="1"))[0]["insurance_company_id"]
    rows = await items(client, "/v4/insurance_plan_coverage", headers, insurance_company_id=company)
    by_category = {row["category"]: row for row in rows}
    assert {"Preventive", "Basic", "Crowns"} <= set(by_category)
    crowns = by_category["Crowns"]
    assert (crowns["procedure_code_from"], crowns["procedure_code_to"]) == ("2700.00", "2899.99")
    assert by_category["Preventive"]["percentage_covered"] == "100"
    assert all(row["percentage_covered"].isdigit() for row in rows)


@pytest.mark.anyio
async def test_patients_carry_their_insurance(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    rows = await items(client, "/v4/patients", headers, practice_id="1", fields="get_all")
    companies = {row["insurance_company_id"] for row in state.practice(DEMO_OFFICE_ID).insurance_companies}
    insured = [row for row in rows if row["primary_insurance_company_id"]]
    assert 0.4 < len(insured) / len(rows) < 0.85
    assert {row["primary_insurance_company_id"] for row in insured} <= companies
    assert all(row["subscriber_id"] for row in insured)
    assert any(row["secondary_insurance_company_id"] for row in rows)
    default = await items(client, "/v4/patients", headers, practice_id="1")
    assert "primary_insurance_company_id" in default[0]
    assert "secondary_insurance_company_id" not in default[0]
    covered_dependents = [
        row for row in insured if row["guarantor_id"] != row["patient_id"] and row["primary_relationship"] != "Self"
    ]
    assert covered_dependents
    for dependent in covered_dependents:
        guarantor = next(row for row in rows if row["patient_id"] == dependent["guarantor_id"])
        assert dependent["subscriber_id"] == guarantor["subscriber_id"]
