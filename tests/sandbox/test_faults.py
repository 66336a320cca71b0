"""Fault injection and request counters."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pydantic
import pytest

from sandbox import DEMO_OFFICE_ID, DEMO_PRACTICE_ID, SandboxConfig, SandboxState, create_sandbox_app
from sandbox.faults import MALFORMED_BODY
from tests.sandbox.support import FakeClock, error_code, issue_key, key_headers


async def get_status(client: httpx.AsyncClient, headers: dict[str, str], path: str = "/v4/patients") -> int:
    return (await client.get(path, headers=headers)).status_code


@pytest.mark.anyio
async def test_latency_then_error(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    state.faults.add("providers", latency_seconds=0.15, count=1)
    state.faults.add("providers", error_code="API2022", count=1)
    started = time.perf_counter()
    response = await client.get("/v4/providers", headers=headers)
    assert time.perf_counter() - started >= 0.15
    assert (response.status_code, error_code(response)) == (504, "API2022")
    assert response.headers["X-Rate-Limit-Limit"] == "10000"
    started = time.perf_counter()
    assert await get_status(client, headers, "/v4/providers") == 200
    assert time.perf_counter() - started < 0.15


@pytest.mark.anyio
async def test_error_for_the_next_n_calls_then_normal(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    rule = state.faults.add("patients", error_code="API2002", count=2)
    assert await get_status(client, headers, "/v4/providers") == 200
    assert [await get_status(client, headers) for _ in range(3)] == [503, 503, 200]
    assert rule.count == 0
    assert state.faults.rules == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("API2012", 429),
        ("API2017", 412),
        ("API2002", 503),
        ("API2010", 500),
        ("API2022", 504),
        ("API2007", 401),
    ],
)
async def test_error_codes_use_the_catalog_status(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str], code: str, status: int
) -> None:
    state.faults.add(error_code=code)
    response = await client.get("/v4/appointments", headers=headers)
    assert (response.status_code, error_code(response), response.json()["http_code"]) == (
        status,
        code,
        str(status),
    )


@pytest.mark.anyio
async def test_http_200_errors(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    state.faults.add("patients", error_code="API4002", count=1)
    state.faults.add("providers", error_code="API2002", status=200, count=1)
    documented = await client.get("/v4/patients", headers=headers)
    assert (documented.status_code, error_code(documented)) == (200, "API4002")
    forced = await client.get("/v4/providers", headers=headers)
    assert (forced.status_code, error_code(forced)) == (200, "API2002")


@pytest.mark.anyio
async def test_rate_limited_429(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    state.faults.add("appointments", rate_limit_reset=17, count=1)
    response = await client.get("/v4/appointments", headers=headers)
    assert response.status_code == 429
    assert (response.headers["X-Rate-Limit-Remaining"], response.headers["X-Rate-Limit-Reset"]) == ("0", "17")
    assert error_code(response) == "API2012"
    assert await get_status(client, headers, "/v4/appointments") == 200


@pytest.mark.anyio
async def test_malformed_json(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    state.faults.add("patients", malformed=True, count=1)
    response = await client.get("/v4/patients", headers=headers)
    assert (response.status_code, response.content) == (200, MALFORMED_BODY)
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.anyio
async def test_method_and_wildcard_matching(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    state.faults.add("request_key", method="DELETE", error_code="API2001")
    assert (await issue_key(client))["request_key"]
    assert (await client.delete("/v4/request_key", headers=headers)).status_code == 500
    state.faults.clear()
    state.faults.add(error_code="API2002", count=2)
    assert [await get_status(client, headers, path) for path in ("/v4/providers", "/v4/operatories")] == [
        503,
        503,
    ]


@pytest.mark.anyio
async def test_rate_is_seeded(clock: FakeClock) -> None:
    outcomes = []
    for _ in range(2):
        state = SandboxState(SandboxConfig(clock=clock))
        transport = httpx.ASGITransport(app=create_sandbox_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            headers = await key_headers(client)
            state.faults.add("providers", error_code="API2002", rate=0.5)
            outcomes.append([await get_status(client, headers, "/v4/providers") for _ in range(30)])
    assert outcomes[0] == outcomes[1]
    assert {503, 200} == set(outcomes[0])


@pytest.mark.anyio
async def test_next_writeback_fails(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    state.faults.add("patient", writeback_failure="SPU offline", count=1)
    payload = {
        "firstname": "Ada",
        "lastname": "Byron",
        "provider_id": "DDS1",
        "practice_id": DEMO_PRACTICE_ID,
    }
    ids = []
    for _ in range(2):
        receipt = await client.post("/v4/patient", headers=headers, json=payload)
        ids.append(receipt.json()["long_message"].removeprefix("Id:"))
    clock.advance(1)
    results = []
    for writeback_id in ids:
        body = (await client.get("/v4/writeback_status", headers=headers, params={"id": writeback_id})).json()
        results.append((body[0]["items"][0]["has_error"], body[0]["items"][0]["result"]))
    assert results == [("True", "SPU offline"), ("False", "New Patient inserted successfully")]


@pytest.mark.anyio
async def test_next_writeback_delay(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    state.faults.add(writeback_delay_seconds=60, count=1)
    payload = {
        "firstname": "Ada",
        "lastname": "Byron",
        "provider_id": "DDS1",
        "practice_id": DEMO_PRACTICE_ID,
    }
    receipt = await client.post("/v4/patient", headers=headers, json=payload)
    writeback_id = int(receipt.json()["long_message"].removeprefix("Id:"))
    clock.advance(59)
    (writeback,) = [w for w in state.writebacks_of(DEMO_OFFICE_ID) if w.id == writeback_id]
    assert writeback.status == "Pending"
    clock.advance(1)
    assert [w.status for w in state.writebacks_of(DEMO_OFFICE_ID)] == ["Success"]


@pytest.mark.parametrize(
    "rule",
    [
        {"error_code": "API9999"},
        {"error_code": "API2002", "malformed": True},
        {"status": 500},
        {"writeback_failure": "x", "latency_seconds": 1},
        {"endpoint": "patients"},
        {"error_code": "API2002", "count": 0},
        {"error_code": "API2002", "typo": 1},
    ],
)
def test_invalid_rules_are_rejected(state: SandboxState, rule: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        state.faults.add(**rule)


@pytest.mark.anyio
async def test_counters_count_every_request_per_endpoint_and_grant(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await client.post("/v4/request_key", json={"grant_type": "refresh_key", "refresh_key": "nope"})
    state.faults.add("patients", error_code="API2002", count=1)
    for _ in range(3):
        await client.get("/v4/patients", headers=headers)
    await client.get("/v4/nowhere")
    await client.put("/v4/appointments/70001", headers=headers, json={})
    assert state.counters == {
        "POST /request_key": 2,
        "POST /request_key:request_key": 1,
        "POST /request_key:refresh_key": 1,
        "GET /patients": 3,
        "GET /nowhere": 1,
        "PUT /appointments": 1,
    }
    state.reset_counters()
    assert state.counters == {}
