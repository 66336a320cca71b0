"""The list envelope, page-index paging, 204 on empty results, common headers and unknown endpoints."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox import SandboxState, create_sandbox_app
from tests.sandbox.support import APP_HEADERS, FakeClock, error_code, items, key_headers

HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


@pytest.mark.anyio
async def test_empty_result_is_204_with_an_empty_body(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/v4/patients", headers=headers, params={"lastname": "Nobody"})
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.anyio
async def test_offset_is_a_page_index(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    everyone = await items(client, "/v4/patients", headers)
    response = await client.get("/v4/patients", headers=headers, params={"limit": 50, "offset": 1})
    body = response.json()
    assert [row["patient_id"] for row in body["items"]] == [row["patient_id"] for row in everyone[50:100]]
    assert body["offset"] == "1"
    assert body["limit"] == "50"
    assert body["total_count"] == str(len(everyone)) == "320"  # both demo locations


@pytest.mark.anyio
async def test_pagination_links(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    params: dict[str, str | int] = {"limit": 50, "status": "active"}
    first = (await client.get("/v4/patients", headers=headers, params=params)).json()
    links = first["pagination"]
    assert links["previous"] == ""
    assert links["current"] == "http://sandbox/v4/patients?status=active&offset=0&limit=50"
    assert links["next"].endswith("status=active&offset=1&limit=50")
    pages, url = [], links["current"]
    while url:
        body = (await client.get(url, headers=headers)).json()
        pages.append(body)
        url = body["pagination"]["next"]
    assert sum(len(page["items"]) for page in pages) == int(first["total_count"])
    last = pages[-1]["pagination"]
    assert last["current"] == last["last"] == links["last"]
    assert last["previous"] == pages[-2]["pagination"]["current"]


@pytest.mark.anyio
async def test_offset_past_the_last_page_is_204(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/v4/patients", headers=headers, params={"limit": 100, "offset": 4})
    assert response.status_code == 204


@pytest.mark.anyio
async def test_limit_defaults_to_50_and_caps_at_5000(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    default = (await client.get("/v4/appointments", headers=headers)).json()
    assert (default["limit"], len(default["items"])) == ("50", 50)
    capped = (await client.get("/v4/appointments", headers=headers, params={"limit": 9999})).json()
    assert capped["limit"] == "5000"


@pytest.mark.anyio
@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "ten"}, {"offset": "-1"}])
async def test_bad_paging_is_api1026(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str]
) -> None:
    response = await client.get("/v4/patients", headers=headers, params=params)
    assert (response.status_code, error_code(response)) == (400, "API1026")


@pytest.mark.anyio
async def test_data_responses_carry_request_key_expires(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for params in ({}, {"lastname": "Nobody"}):
        response = await client.get("/v4/patients", headers=headers, params=params)
        assert response.headers["Request-Key-Expires"] == "Thu, 26 Nov 2026 15:00:00 GMT"
        assert HTTP_DATE.fullmatch(response.headers["Request-Key-Expires"])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "request_headers"),
    [("/v4/patients", {}), ("/v4/authorized_practices", APP_HEADERS), ("/v4/nowhere", {})],
)
async def test_every_response_carries_rate_limit_headers(
    client: httpx.AsyncClient, path: str, request_headers: dict[str, str]
) -> None:
    response = await client.get(path, headers=request_headers)
    assert response.headers["X-Rate-Limit-Limit"] == "10000"
    assert int(response.headers["X-Rate-Limit-Remaining"]) < 10000
    assert 0 < int(response.headers["X-Rate-Limit-Reset"]) <= 60


@pytest.mark.anyio
async def test_rate_limit_per_minute(
    state: SandboxState, clock: FakeClock, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    state.config.rate_limit_per_minute = 3
    clock.advance(60)  # a fresh window
    statuses = [(await client.get("/v4/providers", headers=headers)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    clock.advance(20)
    limited = await client.get("/v4/providers", headers=headers)
    assert (limited.status_code, error_code(limited)) == (429, "API2012")
    assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    assert limited.headers["X-Rate-Limit-Reset"] == "40"
    clock.advance(40)
    assert (await client.get("/v4/providers", headers=headers)).status_code == 200


@pytest.mark.anyio
async def test_unknown_endpoint_is_404_and_wrong_method_405(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    unknown = await client.get("/v4/claims", headers=headers)
    assert (unknown.status_code, error_code(unknown)) == (404, "API2009")
    wrong = await client.delete("/v4/patients", headers=headers)
    assert (wrong.status_code, error_code(wrong)) == (405, "API2014")


@pytest.mark.anyio
async def test_invalid_json_body_is_api1026(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.post("/v4/appointment", headers=headers, content=b"{not json")
    assert (response.status_code, error_code(response)) == (400, "API1026")


@pytest.mark.anyio
async def test_links_keep_a_mount_prefix(state: SandboxState) -> None:
    outer = Starlette(routes=[Mount("/sikka-sandbox", app=create_sandbox_app(state))])
    base_url = "http://parlae/sikka-sandbox"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url=base_url) as client:
        headers = await key_headers(client)
        page = (await client.get("/v4/providers", headers=headers, params={"limit": 1})).json()
        assert page["pagination"]["next"] == f"{base_url}/v4/providers?offset=1&limit=1"
        payload = {"firstname": "Ada", "lastname": "Byron", "provider_id": "DDS1", "practice_id": "1"}
        receipt = (await client.post("/v4/patient", headers=headers, json=payload)).json()
        assert receipt["more_information"].startswith(f"{base_url}/v4/writeback_status?id=")
        assert (await client.get(receipt["more_information"], headers=headers)).status_code == 200
