"""HTTP hygiene through uvicorn: answers that may carry PHI are never cached, and clients cannot grow the
metrics' label sets with invented methods."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID
from server.metrics import HTTP_METHODS
from tests.support import Stack, running_stack

pytestmark = pytest.mark.anyio
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database: Path = tmp_path_factory.mktemp("http") / "parlae.db"
    with running_stack(f"sqlite+aiosqlite:///{database}") as running:
        yield running


async def test_phi_routes_answer_no_store_whatever_the_outcome(stack: Stack) -> None:
    patient = next(p for p in stack.sandbox.practice(DEMO_OFFICE_ID).patients.values() if p["cell"])
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "searchPatients", "arguments": {"phone": patient["cell"]}},
    }
    authorised = {**MCP_HEADERS, "Authorization": f"Bearer {stack.token}"}
    async with httpx.AsyncClient(base_url=stack.app_url, timeout=30) as http:
        answers = {
            "tool result": await http.post("/mcp", json=call, headers=authorised),
            "no token": await http.post("/mcp", json=call, headers=MCP_HEADERS),
            "wrong method": await http.get("/mcp", headers=authorised),
            "webhook refused": await http.post("/api/sikka/webhook/authorize", content=b"{}"),
        }
        health = await http.get("/healthz")
    assert [response.status_code for response in answers.values()] == [200, 401, 405, 401]
    assert answers["tool result"].json()["result"]["structuredContent"]["outcome"] == "ok"
    for name, response in answers.items():
        assert response.headers.get("cache-control") == "no-store", name
    assert "cache-control" not in health.headers


async def test_invented_methods_are_counted_as_other(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.app_url, timeout=30) as http:
        for n in range(20):
            await http.request(f"JUNK{n}", "/healthz")
        await http.request("X" * 200, "/mcp")
        await http.request("PATCH", "/healthz")
        metrics = (await http.get("/metrics")).text
    methods = set(re.findall(r'parlae_http_requests_total\{method="([^"]*)"', metrics))
    assert methods <= HTTP_METHODS | {"other"}
    assert {"other", "PATCH"} <= methods
    assert 'parlae_http_requests_total{method="other",route="other",status="404"} 20.0' in metrics
