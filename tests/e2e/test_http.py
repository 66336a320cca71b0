"""The HTTP layer through uvicorn: answers that may carry PHI are never cached, clients cannot grow the metrics'
label sets with invented methods, MCP's JSON-RPC as a bare client posts it (only tools advertised, no session to
terminate), and an `X-Caller-Number` header in any common format reaches the tools in E.164. The tools themselves
and the MCP adapter over the SDK client are tested in process (tests/tools)."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import httpx
import pytest

from app.metrics import HTTP_METHODS
from sandbox import DEMO_OFFICE_ID
from server.services import open_services
from tests.support import Stack, call, mcp_client

pytestmark = pytest.mark.anyio
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


async def test_phi_routes_answer_no_store_whatever_the_outcome(stack: Stack) -> None:
    patient = next(p for p in stack.sandbox.practice(DEMO_OFFICE_ID).patients.values() if p["cell"])
    search = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "searchPatients", "arguments": {"phone": patient["cell"]}},
    }
    authorised = {**MCP_HEADERS, "Authorization": f"Bearer {stack.token}"}
    async with httpx.AsyncClient(base_url=stack.app_url, timeout=30) as http:
        answers = {
            "tool result": await http.post("/mcp", json=search, headers=authorised),
            "no token": await http.post("/mcp", json=search, headers=MCP_HEADERS),
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


async def raw_rpc(stack: Stack, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    headers = {
        "Authorization": f"Bearer {stack.token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(stack.mcp_url, json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_only_tools_are_advertised(stack: Stack, captured_logs: StringIO) -> None:
    initialized = await raw_rpc(
        stack,
        "initialize",
        {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}},
    )
    capabilities = initialized["result"]["capabilities"]
    assert "tools" in capabilities
    assert "prompts" not in capabilities
    assert "resources" not in capabilities
    prompt = await raw_rpc(stack, "prompts/get", {"name": "anything"})
    assert prompt["error"]["code"] == -32601  # method not found, not a crash
    logs = captured_logs.getvalue()
    assert "Traceback" not in logs
    assert "Terminating session" not in logs


async def test_the_caller_number_header_is_the_default_callback_number(stack: Stack) -> None:
    message = {"callerName": "Sam Caller", "reason": "Please call back"}
    headers = {"X-Caller-Number": "+1 (917) 555-0177"}
    async with mcp_client(stack.mcp_url, stack.token, call_id="message-caller", headers=headers) as client:
        taken = await call(client, "takeMessage", message)
    assert (taken["outcome"], taken["code"]) == ("confirmed", "message_taken"), taken
    assert taken["message"].endswith("they will call you back at the number ending in 0177.")
    async with open_services(stack.settings) as services:
        stored = {m.id: m for m in await services.inbox.open_items(stack.account_id)}
    assert stored[taken["messageId"]].note.callback_number == "+19175550177"
