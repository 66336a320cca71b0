"""The money reads against respx-mocked Sikka (reference §11): every read carries the location's practice_id,
carrier names are asked for with `fields=get_all`, carriers and coverage tables are cached per practice
(loaded only when first needed, never while Sikka reloads the practice's data), and a patient's plans are read
with get_all only when asked for."""

from __future__ import annotations

import httpx
import pytest
import respx

from server.sikka.gateway import SikkaGateway
from tests.unit.test_gateway_contract import BASE, envelope, gateway, metadata_routes, query, view

pytestmark = pytest.mark.anyio
__all__ = ["gateway"]  # the fixture, imported for pytest

COMPANIES = [
    {"insurance_company_id": "10", "insurance_company_name": "Delta Dental of Illinois", "practice_id": "2"},
    {"insurance_company_id": "11", "insurance_company_name": "MetLife", "practice_id": "2"},
]
COVERAGE = [
    {
        "insurance_company_id": "10",
        "category": "Crowns",
        "procedure_code_from": "2700.00",
        "procedure_code_to": "2899.99",
        "percentage_covered": "50",
        "is_deductible": "1",
    }
]


@respx.mock
async def test_carriers_are_read_with_names_for_the_location_and_cached(gateway: SikkaGateway) -> None:
    reloading = [True]

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=envelope(COMPANIES), headers={"Data-Insert": "in progress" if reloading[0] else "completed"}
        )

    route = respx.get(f"{BASE}/insurance_companies").mock(side_effect=respond)
    carriers = await view(gateway).carriers()
    assert carriers.names == ("Delta Dental of Illinois", "MetLife")
    assert query(route.calls.last.request) == {"fields": "get_all", "practice_id": "2", "limit": "500", "offset": "0"}
    await view(gateway).carriers()
    assert route.call_count == 2  # read during a data reload: used, not cached
    reloading[0] = False
    await view(gateway).carriers()
    await view(gateway).carriers()
    assert route.call_count == 3


@respx.mock
async def test_coverage_is_one_cached_listing_for_the_location(gateway: SikkaGateway) -> None:
    route = respx.get(f"{BASE}/insurance_plan_coverage").respond(json=envelope(COVERAGE))
    table = await view(gateway).coverage()
    await view(gateway).coverage()
    assert route.call_count == 1
    assert query(route.calls.last.request)["practice_id"] == "2"
    (crowns,) = table.of("10")
    assert (crowns.category, crowns.percentage, crowns.deductible_applies) == ("Crowns", 50, True)


@respx.mock
async def test_metadata_does_not_load_the_money_tables(gateway: SikkaGateway) -> None:
    metadata_routes()
    companies = respx.get(f"{BASE}/insurance_companies").respond(json=envelope(COMPANIES))
    coverage = respx.get(f"{BASE}/insurance_plan_coverage").respond(json=envelope(COVERAGE))
    await view(gateway).metadata()
    assert (companies.call_count, coverage.call_count) == (0, 0)


@respx.mock
async def test_a_balance_is_the_patients_own_row_in_the_location(gateway: SikkaGateway) -> None:
    rows = [
        {"patient_id": "7", "patient_due": "125.5000", "insurance_due": "0.0000", "account_balance": "125.5000"},
        {"patient_id": "70", "patient_due": "9.0000", "insurance_due": "0.0000", "account_balance": "9.0000"},
    ]
    route = respx.get(f"{BASE}/patient_balance").respond(json=envelope(rows))
    found = await view(gateway).balance("7")
    assert found is not None
    assert str(found.patient_due) == "125.50"  # in cents
    assert query(route.calls.last.request)["practice_id"] == "2"
    assert query(route.calls.last.request)["patient_id"] == "7"
    respx.get(f"{BASE}/patient_balance").respond(204)
    assert await view(gateway).balance("8") is None


@respx.mock
async def test_a_patients_plans_are_read_with_get_all_only_when_asked(gateway: SikkaGateway) -> None:
    item = {
        "patient_id": "7",
        "firstname": "Ann",
        "lastname": "Lee",
        "primary_insurance_company_id": "10",
        "secondary_insurance_company_id": "11",
        "secondary_insurance": "MetLife",
    }
    route = respx.get(f"{BASE}/patients").respond(json=envelope([item]))
    plain = await view(gateway).patient("7")
    assert query(route.calls.last.request)["fields"] == "homephone,workphone"
    with_plans = await view(gateway).patient("7", insurance=True)
    assert query(route.calls.last.request)["fields"] == "get_all"
    assert plain is not None
    assert with_plans is not None
    assert [(p.rank, p.carrier_id, p.carrier_name) for p in with_plans.plans] == [
        ("primary", "10", ""),
        ("secondary", "11", "MetLife"),
    ]
