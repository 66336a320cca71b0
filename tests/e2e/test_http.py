"""The HTTP layer through uvicorn: answers that may carry PHI are never cached, clients cannot grow the metrics'
label sets with invented methods, MCP's JSON-RPC as a bare client posts it (only tools advertised, no session to
terminate; malformed envelopes, null ids, batches per protocol version, unknown versions, the RFC 6750 challenge
and the body limit: app/mcp_http.py), and an `X-Caller-Number` header in any common format reaches the tools in
E.164. The tools themselves and the MCP adapter over the SDK client are tested in process (tests/tools)."""

from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import httpx
import pytest

from app.main import BODY_LIMITS
from app.mcp_http import MCP_PATH
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


async def rpc(stack: Stack, body: Any, version: str | None = None, authorization: str | None = None) -> httpx.Response:
    """POST `body` to /mcp with the stack's token (or `authorization`; "" sends none)."""
    headers = {**MCP_HEADERS, "Content-Type": "application/json"}
    authorization = f"Bearer {stack.token}" if authorization is None else authorization
    if authorization:
        headers["Authorization"] = authorization
    if version:
        headers["MCP-Protocol-Version"] = version
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(stack.mcp_url, content=json.dumps(body), headers=headers)


def invalid_request(response: httpx.Response, request_id: Any = None) -> str:
    """The -32600 answer's message, after checking its shape; never a validator's words."""
    assert response.status_code == 400, response.text
    answer = response.json()
    assert (answer["jsonrpc"], answer["id"], answer["error"]["code"]) == ("2.0", request_id, -32600), answer
    message: str = answer["error"]["message"]
    assert "pydantic" not in message.lower()
    assert "validation error" not in message.lower()
    assert "\n" not in message
    return message


LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


@pytest.mark.parametrize(
    ("envelope", "request_id", "says"),
    [
        ({"id": 1, "method": "tools/list"}, 1, 'jsonrpc must be "2.0"'),
        ({**LIST, "jsonrpc": "1.0"}, 1, 'jsonrpc must be "2.0"'),
        ({**LIST, "id": None}, None, "id must be a string or an integer (not null)"),
        ({**LIST, "id": True}, None, "id must be a string or an integer"),
        ({**LIST, "id": 1.5}, None, "id must be a string or an integer"),
        ({**LIST, "method": 5}, 1, "method must be a string"),
        ({**LIST, "params": ["a"]}, 1, "params must be an object"),
        ({"jsonrpc": "2.0", "id": 1}, 1, "either a result or an error"),
        ({"jsonrpc": "2.0", "id": 1, "error": 5}, 1, "an error needs an integer code and a message"),
        ("tools/list", None, "a message must be a JSON object"),
        (None, None, "a message must be a JSON object"),
    ],
)
async def test_malformed_envelopes_are_invalid_requests_in_one_sentence(
    stack: Stack, envelope: Any, request_id: Any, says: str
) -> None:
    assert says in invalid_request(await rpc(stack, envelope), request_id)


async def test_a_request_with_a_null_id_is_refused_not_run_as_a_notification(stack: Stack) -> None:
    message = {"callerName": "Null Id", "callbackNumber": "+14155550188", "reason": "should not be stored"}
    body = {
        "jsonrpc": "2.0",
        "id": None,
        "method": "tools/call",
        "params": {"name": "takeMessage", "arguments": message},
    }
    invalid_request(await rpc(stack, body))
    async with open_services(stack.settings) as services:
        stored = await services.inbox.open_items(stack.account_id)
    assert all(m.note.caller_name != "Null Id" for m in stored)


def call_tool(request_id: int, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    params = {"name": name, "arguments": arguments or {}}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


@pytest.mark.parametrize("version", [None, "2025-03-26"])
async def test_batches_are_answered_under_2025_03_26(stack: Stack, version: str | None) -> None:
    batch = [
        call_tool(1, "getProviders"),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "two", "method": "ping"},
        {"jsonrpc": "1.0", "id": 3, "method": "ping"},
        {"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {}},
        call_tool(5, "checkInsuranceAccepted", {"carrier": "Delta"}),
        {"jsonrpc": "2.0", "id": 6, "method": "prompts/get", "params": {"name": "x"}},
    ]
    response = await rpc(stack, batch, version)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert [answer["id"] for answer in answers] == [1, "two", 3, 4, 5, 6]  # the notification gets no answer
    assert answers[0]["result"]["structuredContent"]["code"] == "providers_found"
    assert answers[1]["result"] == {}
    assert answers[2]["error"]["code"] == answers[3]["error"]["code"] == -32600
    assert "initialize cannot be part of a batch" in answers[3]["error"]["message"]
    assert answers[4]["result"]["structuredContent"]["outcome"] in ("ok", "not_found")
    assert answers[5]["error"]["code"] == -32601


async def test_a_batch_answers_at_most_twenty_and_only_notifications_get_202(stack: Stack) -> None:
    answers = (await rpc(stack, [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(23)])).json()
    assert [answer["id"] for answer in answers] == list(range(23))
    assert all("result" in answer for answer in answers[:20])
    assert all("at most 20 messages" in answer["error"]["message"] for answer in answers[20:])
    notified = await rpc(stack, [{"jsonrpc": "2.0", "method": "notifications/initialized"}])
    assert (notified.status_code, notified.content) == (202, b"")


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
async def test_later_versions_refuse_batches(stack: Stack, version: str) -> None:
    assert f"batches are not part of MCP {version}" in invalid_request(await rpc(stack, [LIST], version))
    assert "an empty batch" in invalid_request(await rpc(stack, []))


async def test_a_batch_without_credentials_is_refused_whole(stack: Stack) -> None:
    response = await rpc(stack, [LIST, {"jsonrpc": "2.0", "id": 2, "method": "ping"}], authorization="")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_an_unknown_protocol_version_is_named_with_the_ones_spoken(stack: Stack) -> None:
    message = invalid_request(await rpc(stack, LIST, "2099-01-01"))
    assert "2025-03-26, 2025-06-18, 2025-11-25" in message
    assert "_meta" not in message
    assert (await rpc(stack, LIST, "2025-11-25")).status_code == 200


async def test_the_bearer_challenge_names_an_error_only_when_a_token_was_sent(stack: Stack) -> None:
    none_sent = await rpc(stack, LIST, authorization="")
    assert none_sent.status_code == 401
    assert none_sent.headers["www-authenticate"] == "Bearer"  # RFC 6750 §3.1
    assert "invalid_token" not in none_sent.text
    wrong = await rpc(stack, LIST, authorization="Bearer pmt_not_a_token")
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_bodies_over_the_mcp_limit_are_413(stack: Stack) -> None:
    padded = {**call_tool(1, "getProviders"), "padding": "x" * (BODY_LIMITS[MCP_PATH] + 1)}
    response = await rpc(stack, padded)
    assert response.status_code == 413
    assert response.headers["cache-control"] == "no-store"
