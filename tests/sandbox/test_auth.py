"""Request keys, refresh keys, revocation, app credentials and practice authorization."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox import (
    DEMO_APP_ID,
    DEMO_APP_KEY,
    DEMO_OFFICE_ID,
    DEMO_PRACTICE_ID,
    DEMO_SECOND_PRACTICE_ID,
    DEMO_SECRET_KEY,
    SandboxState,
)
from tests.sandbox.support import APP_HEADERS, FakeClock, error_code, issue_key

GRANT = {
    "grant_type": "request_key",
    "office_id": DEMO_OFFICE_ID,
    "secret_key": DEMO_SECRET_KEY,
    "app_id": DEMO_APP_ID,
    "app_key": DEMO_APP_KEY,
}


def headers_for(body: dict[str, str]) -> dict[str, str]:
    """Request-Key headers for a request_key grant's response body."""
    return {"Request-Key": body["request_key"]}


async def grant(client: httpx.AsyncClient, **changes: Any) -> httpx.Response:
    return await client.post("/v4/request_key", json={**GRANT, **changes})


@pytest.mark.anyio
async def test_request_key_grant(client: httpx.AsyncClient) -> None:
    body = await issue_key(client)
    assert len(body["request_key"]) == len(body["refresh_key"]) == 32
    assert body["expires_in"] == "86400 second(s)"
    assert (body["status"], body["issued_to"], body["domain"]) == ("active", DEMO_OFFICE_ID, "Dental")
    assert (body["start_time"], body["end_time"]) == ("2026-11-25T15:00:00", "2026-11-26T15:00:00")
    assert (await issue_key(client))["request_key"] != body["request_key"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"app_key": "x" * 32}, 401, "API2003"),
        ({"app_id": ""}, 401, "API2003"),
        ({"secret_key": "x" * 32}, 401, "API2007"),
        ({"office_id": "D99999"}, 401, "API2007"),
        ({"grant_type": "refresh_token"}, 400, "API1026"),
        ({"grant_type": "refresh_key", "refresh_key": "unknown"}, 401, "API2003"),
    ],
)
async def test_bad_grants(client: httpx.AsyncClient, changes: dict[str, str], status: int, code: str) -> None:
    response = await grant(client, **changes)
    assert (response.status_code, error_code(response)) == (status, code)


def delist_the_demo_office(state: SandboxState) -> None:
    for practice_id in (DEMO_PRACTICE_ID, DEMO_SECOND_PRACTICE_ID):
        state.set_listed(DEMO_OFFICE_ID, practice_id, False)


@pytest.mark.anyio
async def test_unlisted_practice_cannot_get_a_key(state: SandboxState, client: httpx.AsyncClient) -> None:
    delist_the_demo_office(state)
    response = await grant(client)
    assert (response.status_code, error_code(response)) == (401, "API2007")


@pytest.mark.anyio
async def test_deauthorized_practice_keys_stop_working(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    delist_the_demo_office(state)
    response = await client.get("/v4/patients", headers=headers)
    assert (response.status_code, error_code(response)) == (401, "API2007")


@pytest.mark.anyio
async def test_missing_request_key_is_api1004(client: httpx.AsyncClient) -> None:
    response = await client.get("/v4/patients")
    assert (response.status_code, error_code(response)) == (400, "API1004")


@pytest.mark.anyio
async def test_header_names_are_case_insensitive(client: httpx.AsyncClient) -> None:
    key = (await issue_key(client))["request_key"]
    assert (await client.get("/v4/providers", headers={"request-key": key})).status_code == 200
    lower = {"app-id": DEMO_APP_ID, "APP-KEY": DEMO_APP_KEY}
    assert (await client.get("/v4/authorized_practices", headers=lower)).status_code == 200


@pytest.mark.anyio
async def test_expired_key_is_api1025_http_400(
    clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    clock.advance(86400 - 1)
    assert (await client.get("/v4/providers", headers=headers)).status_code == 200
    clock.advance(1)
    response = await client.get("/v4/providers", headers=headers)
    assert (response.status_code, error_code(response)) == (400, "API1025")


@pytest.mark.anyio
async def test_expire_request_keys(state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    state.expire_request_keys()
    assert error_code(await client.get("/v4/providers", headers=headers)) == "API1025"
    assert (await client.get("/v4/providers", headers=headers_for(await issue_key(client)))).status_code == 200


@pytest.mark.anyio
async def test_key_ttl_is_configurable(state: SandboxState, clock: FakeClock, client: httpx.AsyncClient) -> None:
    state.config.key_ttl_seconds = 60
    body = await issue_key(client)
    assert body["expires_in"] == "60 second(s)"
    clock.advance(60)
    assert error_code(await client.get("/v4/providers", headers=headers_for(body))) == "API1025"


@pytest.mark.anyio
async def test_refresh_grant_returns_a_working_key(clock: FakeClock, client: httpx.AsyncClient) -> None:
    first = await issue_key(client)
    clock.advance(86400)
    response = await grant(client, grant_type="refresh_key", refresh_key=first["refresh_key"])
    refreshed = response.json()
    assert response.status_code == 200
    assert refreshed["refresh_key"] == first["refresh_key"]
    assert refreshed["request_key"] != first["request_key"]
    assert (await client.get("/v4/providers", headers=headers_for(refreshed))).status_code == 200
    assert error_code(await client.get("/v4/providers", headers=headers_for(first))) == "API1025"


@pytest.mark.anyio
async def test_a_grant_is_refused_while_a_location_it_covers_has_access_off(
    state: SandboxState, client: httpx.AsyncClient
) -> None:
    """Undocumented; the conservative reading: no key (new or refreshed) while a location sharing its secret key
    is switched off; a location of the office with its own secret key does not matter."""
    refresh_key = (await issue_key(client))["refresh_key"]
    state.add_practice(DEMO_OFFICE_ID, "3", secret_key="x" * 32, name="Happy Dental Queens", access=False)
    assert (await grant(client)).status_code == 200
    state.set_access(DEMO_OFFICE_ID, [DEMO_SECOND_PRACTICE_ID], False)
    for refused in (await grant(client), await grant(client, grant_type="refresh_key", refresh_key=refresh_key)):
        assert (refused.status_code, error_code(refused)) == (401, "API2007")
    other = await grant(client, secret_key="x" * 32)
    assert (other.status_code, error_code(other)) == (401, "API2007")
    body = {"office_id": DEMO_OFFICE_ID, "practice_id": f"{DEMO_SECOND_PRACTICE_ID},3", "access": "ON"}
    assert (await client.post("/v4/practice_location", headers=APP_HEADERS, json=body)).status_code == 200
    for granted in (await grant(client), await grant(client, grant_type="refresh_key", refresh_key=refresh_key)):
        assert granted.status_code == 200


@pytest.mark.anyio
async def test_delete_request_key_invalidates_it(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.delete("/v4/request_key", headers=headers)
    assert (response.status_code, error_code(response)) == (200, "API0002")
    after = await client.get("/v4/providers", headers=headers)
    assert (after.status_code, error_code(after)) == (400, "API1004")


@pytest.mark.anyio
async def test_delete_refresh_key(client: httpx.AsyncClient) -> None:
    refresh_key = (await issue_key(client))["refresh_key"]
    response = await client.delete("/v4/refresh_key", headers={**APP_HEADERS, "Refresh-Key": refresh_key})
    assert (response.status_code, error_code(response)) == (200, "API0002")
    again = await grant(client, grant_type="refresh_key", refresh_key=refresh_key)
    assert (again.status_code, error_code(again)) == (401, "API2003")


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["authorized_practices", "supported_pmses", "practice_location"])
async def test_support_endpoints_need_app_credentials(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(f"/v4/{path}", headers={"App-Id": DEMO_APP_ID, "App-Key": "wrong"})
    assert (response.status_code, error_code(response)) == (401, "API2003")


@pytest.mark.anyio
async def test_authorized_practices(state: SandboxState, client: httpx.AsyncClient) -> None:
    state.add_practice(DEMO_OFFICE_ID, "1-1", secret_key=DEMO_SECRET_KEY, name="Happy Dental Uptown")
    state.add_practice("D50000", secret_key="s" * 32, name="Hidden Dental", listed=False)
    response = await client.get("/v4/authorized_practices", headers=APP_HEADERS)
    (demo,) = response.json()["items"]
    assert demo["office_id"] == DEMO_OFFICE_ID
    assert demo["secret_key"] == DEMO_SECRET_KEY
    assert demo["practice_name"] == "Happy Dental Clinic"
    assert demo["practice_management_system"] == "Dentrix"
    assert demo["practice_management_system_refresh_date_time_zone"] == "Eastern Standard Time"
    every = await client.get("/v4/authorized_practices", headers=APP_HEADERS, params={"show": "all"})
    assert [row["practice_id"] for row in every.json()["items"]] == ["1", "2", "1-1"]
    assert {row["secret_key"] for row in every.json()["items"]} == {DEMO_SECRET_KEY}


@pytest.mark.anyio
async def test_request_key_info(client: httpx.AsyncClient) -> None:
    key = (await issue_key(client))["request_key"]
    response = await client.get("/v4/request_key_info", params={"request_key": key})
    assert response.json()["request_key"] == key
    assert "refresh_key" not in response.json()
