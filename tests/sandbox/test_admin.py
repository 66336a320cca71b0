"""The /_admin routes."""

from __future__ import annotations

import json

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, DEMO_SECOND_PRACTICE_ID, SandboxState, create_sandbox_app
from tests.sandbox.support import APP_HEADERS, error_code, issue_key, items


@pytest.mark.anyio
async def test_counters(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    await client.get("/v4/patients", headers=headers)
    counters = (await client.get("/_admin/counters")).json()
    assert counters == {"POST /request_key": 1, "POST /request_key:request_key": 1, "GET /patients": 1}
    assert (await client.delete("/_admin/counters")).status_code == 204
    assert (await client.get("/_admin/counters")).json() == {}


@pytest.mark.anyio
async def test_faults(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    created = await client.post("/_admin/faults", json={"endpoint": "patients", "error_code": "API2002", "count": 1})
    assert created.status_code == 201
    assert created.json()["error_code"] == "API2002"
    assert [rule["endpoint"] for rule in (await client.get("/_admin/faults")).json()] == ["patients"]
    assert (await client.get("/v4/patients", headers=headers)).status_code == 503
    await client.post("/_admin/faults", json={"error_code": "API2002"})
    assert (await client.delete("/_admin/faults")).status_code == 204
    assert (await client.get("/v4/patients", headers=headers)).status_code == 200
    invalid = await client.post("/_admin/faults", json={"error_code": "API0000"})
    assert invalid.status_code == 422


@pytest.mark.anyio
async def test_add_practice_and_list_it(client: httpx.AsyncClient) -> None:
    spec = {
        "office_id": "D70000",
        "secret_key": "k" * 32,
        "name": "Lakeside Ortho",
        "pms": "Dolphin",
        "patients": 20,
    }
    created = await client.post("/_admin/practices", json=spec)
    assert created.status_code == 201
    assert (created.json()["patients"], created.json()["pms"]) == (20, "Dolphin")
    headers = {"Request-Key": (await issue_key(client, "D70000", "k" * 32))["request_key"]}
    assert len(await items(client, "/v4/patients", headers)) == 20
    assert (await client.post("/_admin/practices", json=spec)).status_code == 422
    assert (await client.post("/_admin/practices", json={**spec, "patients": "many"})).status_code == 422
    assert {p["office_id"] for p in (await client.get("/_admin/practices")).json()} == {
        DEMO_OFFICE_ID,
        "D70000",
    }


@pytest.mark.anyio
async def test_listed(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    second = await client.post(
        f"/_admin/practices/{DEMO_OFFICE_ID}/{DEMO_SECOND_PRACTICE_ID}/listed", json={"listed": False}
    )
    assert second.json()["listed"] is False
    assert {row["practice_id"] for row in await items(client, "/v4/practices", headers)} == {"1"}
    response = await client.post(f"/_admin/practices/{DEMO_OFFICE_ID}/1/listed", json={"listed": False})
    assert response.json()["listed"] is False
    assert (await client.get("/v4/authorized_practices", headers=APP_HEADERS)).status_code == 204
    assert error_code(await client.get("/v4/patients", headers=headers)) == "API2007"
    await client.post(f"/_admin/practices/{DEMO_OFFICE_ID}/1/listed", json={"listed": True})
    assert (await client.get("/v4/patients", headers=headers)).status_code == 200
    assert (await client.post("/_admin/practices/D1/1/listed", json={"listed": True})).status_code == 404


@pytest.mark.anyio
async def test_expire_keys(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert (await client.post("/_admin/keys/expire")).status_code == 204
    assert error_code(await client.get("/v4/patients", headers=headers)) == "API1025"


@pytest.mark.anyio
async def test_records(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    appointments = (await client.get(f"/_admin/practices/{DEMO_OFFICE_ID}/1/appointments")).json()
    assert len(appointments) == len(state.practice(DEMO_OFFICE_ID).appointments)
    assert any(row["cancelled"] == "True" for row in appointments)
    patients = (await client.get(f"/_admin/practices/{DEMO_OFFICE_ID}/1/patients")).json()
    assert len(patients) == 200
    await client.post(
        "/v4/patient",
        headers=headers,
        json={"firstname": "A", "lastname": "B", "provider_id": "DDS1", "practice_id": "1"},
    )
    assert (await client.get(f"/_admin/practices/{DEMO_OFFICE_ID}/2/writebacks")).json() == []
    (writeback,) = (await client.get(f"/_admin/practices/{DEMO_OFFICE_ID}/1/writebacks")).json()
    assert writeback["status"] == "Pending"
    assert (await client.get(f"/_admin/practices/{DEMO_OFFICE_ID}/1/claims")).status_code == 404


@pytest.mark.anyio
async def test_config(state: SandboxState, client: httpx.AsyncClient) -> None:
    update = {
        "latency_seconds": 0.01,
        "latency_p99_seconds": 0.06,
        "writeback_delay_seconds": 3,
        "writeback_delay_max_seconds": 9,
        "key_ttl_seconds": 60,
        "rate_limit_per_minute": 5,
    }
    assert (await client.post("/_admin/config", json=update)).json() == update
    assert state.config.writeback_delay_seconds == 3
    assert (await client.get("/_admin/config")).json() == update
    assert (await client.post("/_admin/config", json={"latency_seconds": -1})).status_code == 422
    assert (await client.post("/_admin/config", json={"latency_p99_seconds": -1})).status_code == 422
    assert (await client.post("/_admin/config", json={"clock": "now"})).status_code == 422


@pytest.mark.anyio
async def test_data_ready(client: httpx.AsyncClient) -> None:
    spec = {"office_id": "D70001", "secret_key": "k" * 32, "name": "New Dental", "patients": 5, "uploaded": False}
    created = (await client.post("/_admin/practices", json=spec)).json()
    assert (created["uploaded"], created["access"], created["reloading"]) == (False, True, False)
    headers = {"Request-Key": (await issue_key(client, "D70001", "k" * 32))["request_key"]}
    waiting = await client.get("/v4/patients", headers=headers)
    assert (waiting.status_code, error_code(waiting)) == (500, "API2010")
    ready = await client.post("/_admin/practices/D70001/1/data_ready")
    assert ready.json()["uploaded"] is True
    assert len(await items(client, "/v4/patients", headers)) == 5
    assert (await client.post("/_admin/practices/D70001/9/data_ready")).status_code == 404


@pytest.mark.anyio
async def test_data_insert(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    url = f"/_admin/practices/{DEMO_OFFICE_ID}/1/data_insert"
    assert (await client.post(url, json={"in_progress": True})).json()["reloading"] is True
    response = await client.get("/v4/patients", headers=headers, params={"practice_id": "1"})
    assert response.headers["Data-Insert"] == "in progress"
    await client.post(url, json={"in_progress": False})
    response = await client.get("/v4/patients", headers=headers, params={"practice_id": "1"})
    assert response.headers["Data-Insert"] == "completed"
    assert (await client.post(url, json={"in_progress": "soon"})).status_code == 422


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("client_host", "forwarded_for", "status"),
    [
        ("127.0.0.1", None, 200),
        ("::1", None, 200),
        ("203.0.113.5", None, 403),
        ("10.0.0.7", None, 403),
        ("127.0.0.1", "203.0.113.5", 403),  # a local proxy forwarding someone else
        ("127.0.0.1", "127.0.0.1", 403),
    ],
)
async def test_admin_answers_only_this_machine(
    state: SandboxState, client_host: str, forwarded_for: str | None, status: int
) -> None:
    transport = httpx.ASGITransport(app=create_sandbox_app(state), client=(client_host, 40000))
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as remote:
        for method, path in [
            ("GET", "/_admin/practices"),
            ("GET", f"/_admin/practices/{DEMO_OFFICE_ID}/1/patients"),
            ("POST", "/_admin/keys/expire"),
            ("GET", "/_admin/config"),
        ]:
            response = await remote.request(method, path, headers=headers)
            assert response.status_code == (204 if status == 200 and method == "POST" else status), path
            if status == 403:
                assert response.json() == {"detail": "the sandbox admin answers only requests from this machine"}
        assert (await remote.get("/v4/authorized_practices", headers={**headers, **APP_HEADERS})).status_code == 200


@pytest.mark.anyio
async def test_practice_summaries_never_carry_the_secret_key(client: httpx.AsyncClient) -> None:
    created = await client.post("/_admin/practices", json={"office_id": "D70001", "secret_key": "q" * 32, "name": "X"})
    listed = (await client.get("/_admin/practices")).json()
    for summary in [created.json(), *listed]:
        assert "secret_key" not in summary
        assert "q" * 32 not in json.dumps(summary)
