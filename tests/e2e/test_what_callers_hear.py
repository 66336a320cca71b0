"""What the caller hears, for every outcome code of every tool, on both paths: the server answers each code over
HTTP (uvicorn, the real adapters and the SDK), Vapi's speaking rules (tests/vapi_speech.py) are applied with the
tool JSON `parlae-mcp vapi-config` prints for this server, and the caller must hear the tool's start line and then
the model reading the server's own sentence, never a fixed line in its place. So "I can't reach the office" is
heard only where the server says so, and it says so only when the office system could not be reached.

To reach every code, the server here runs each tool as a script that answers the code it is asked for, with the
tool's own name, result model and outcome, and with the real sentence where the sentence does not depend on the
call (upstream failures, failing closed); the codes are the registry's (tools/codes.py, as tests/outcome_codes.py
lists them per tool). Real tools answer a date in the past the same way at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.limits import MAX_CALLS_PER_REQUEST
from app.main import create_app
from app.vapi import REQUEST_START
from server.caller import Caller
from server.services import Services
from tests.outcome_codes import CODES, UNREACHABLE
from tests.support import Stack, practice_today, serve, settings_env
from tests.vapi_speech import Turn, mcp_tool_turn, server_tool_turn
from tools import ALL_TOOLS, ToolAnswer, ToolSpec
from tools.base import AUDIT_FAILED, UNAVAILABLE_MESSAGES
from tools.results import ERROR_OUTCOMES
from tools.speech import spoken_day

pytestmark = pytest.mark.anyio
FAILED_CLOSED = "(failed closed)"  # no audit record: no result at all, only the sentence
REAL_SENTENCES = {str(code): said for code, said in UNAVAILABLE_MESSAGES.values()}
CANT_REACH = "can't reach the office"
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
    "X-Call-Id": "speaking-mcp",
}


def sentence(tool: str, code: str) -> str:
    return REAL_SENTENCES.get(code) or (AUDIT_FAILED if code == FAILED_CLOSED else f"The {tool} sentence for {code}.")


def scripted(spec: ToolSpec) -> ToolSpec:
    """`spec` answering whichever of its codes the arguments name."""

    async def run(services: Services, caller: Caller, arguments: dict[str, Any]) -> ToolAnswer:
        code = str(arguments["code"])
        if code == FAILED_CLOSED:
            return ToolAnswer(None, AUDIT_FAILED)
        answer = spec.result(message=sentence(spec.name, code), outcome=CODES[spec.name][code], code=code)
        return ToolAnswer.of(answer)

    return replace(spec, run=run)


@dataclass(frozen=True)
class Configured:
    """The scripted server and the Vapi tool JSON `vapi-config` printed for it."""

    mcp_tool: dict[str, Any]
    server_tools: dict[str, dict[str, Any]]


def vapi_config(stack: Stack, url: str, *flags: str) -> Any:
    command = [sys.executable, "-m", "app", "vapi-config", "--account-id", stack.account_id, "--url", url, *flags]
    env = {**settings_env(stack.settings), "LOG_LEVEL": "WARNING"}
    printed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(printed.stdout)


@pytest.fixture(scope="module")
def configured(stack: Stack) -> Iterator[Configured]:
    with serve(create_app(stack.settings, tools=[scripted(spec) for spec in ALL_TOOLS])) as server:
        functions = vapi_config(stack, server.url, "--server-tools")
        yield Configured(vapi_config(stack, server.url), {tool["function"]["name"]: tool for tool in functions})


def every_code() -> list[tuple[str, str]]:
    return [(tool, code) for tool, codes in CODES.items() for code in [*codes, FAILED_CLOSED]]


def outcome_of(tool: str, code: str) -> str | None:
    return None if code == FAILED_CLOSED else CODES[tool][code]


def assert_heard(turn: Turn, tool: str, said: str, code: str) -> None:
    assert (turn.fixed, turn.model_turn) == (None, True), (tool, code)
    assert turn.heard == [REQUEST_START[tool], said], (tool, code)
    assert (CANT_REACH in " ".join(turn.heard)) == (code in UNREACHABLE), (tool, code)


async def mcp_call(http: httpx.AsyncClient, mcp_tool: dict[str, Any], name: str, arguments: dict[str, Any]) -> Any:
    """`tools/call` where and as the printed MCP tool says; the `CallToolResult` (JSON)."""
    server = mcp_tool["server"]
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    response = await http.post(server["url"], json=body, headers={**server["headers"], **MCP_HEADERS})
    assert response.status_code == 200, response.text
    return response.json()["result"]


async def test_over_mcp_the_caller_hears_the_servers_sentence_for_every_code(configured: Configured) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for tool, code in every_code():
            result = await mcp_call(http, configured.mcp_tool, tool, {"code": code})
            assert result["isError"] is (code == FAILED_CLOSED or outcome_of(tool, code) in ERROR_OUTCOMES)
            assert_heard(mcp_tool_turn(configured.mcp_tool, tool, result), tool, sentence(tool, code), code)


async def post_calls(http: httpx.AsyncClient, config: dict[str, Any], calls: list[dict[str, Any]]) -> list[Any]:
    server = config["server"]
    body = {"message": {"type": "tool-calls", "toolCallList": calls, "call": {"id": "speaking-server-tools"}}}
    response = await http.post(server["url"], json=body, headers=server["headers"])
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


async def test_with_server_tools_the_caller_hears_the_servers_sentence_for_every_code(configured: Configured) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for tool, codes in CODES.items():
            config = configured.server_tools[tool]
            asked = [*codes, FAILED_CLOSED]
            entries = []
            for start in range(0, len(asked), MAX_CALLS_PER_REQUEST):
                batch = asked[start : start + MAX_CALLS_PER_REQUEST]
                calls = [{"id": code, "name": tool, "arguments": {"code": code}} for code in batch]
                entries += await post_calls(http, config, calls)
            assert [entry["toolCallId"] for entry in entries] == asked
            for code, entry in zip(asked, entries, strict=True):
                failed = code == FAILED_CLOSED or outcome_of(tool, code) == "unavailable"
                assert ("error" in entry) is failed, (tool, code)
                assert_heard(server_tool_turn(config, entry), tool, sentence(tool, code), code)


async def test_the_adapters_own_answers_give_the_model_its_turn_too(configured: Configured) -> None:
    """Arguments that are not JSON, and a call beyond the twentieth: answered by the adapter, not a tool."""
    config = configured.server_tools["checkAvailability"]
    unreadable = {"id": "u", "type": "function", "function": {"name": "checkAvailability", "arguments": "{no"}}
    calls = [
        unreadable,
        *[
            {"id": f"c{n}", "name": "checkAvailability", "arguments": {"code": "slots_found"}}
            for n in range(MAX_CALLS_PER_REQUEST)
        ],
    ]
    async with httpx.AsyncClient(timeout=30) as http:
        entries = await post_calls(http, config, calls)
    slip, over_cap = entries[0], entries[-1]
    assert json.loads(slip["result"])["code"] == "invalid_arguments"
    assert json.loads(over_cap["error"])["code"] == "too_many_calls"
    for entry in (slip, over_cap):
        turn = server_tool_turn(config, entry)
        assert (turn.fixed, turn.model_turn) == (None, True)
        assert CANT_REACH not in " ".join(turn.heard)


async def test_a_real_date_in_the_past_is_heard_as_the_server_says_it_on_both_paths(stack: Stack) -> None:
    slipped = practice_today() - timedelta(days=400)
    asked = {"date": slipped.isoformat()}
    mcp_tool = vapi_config(stack, stack.app_url)
    functions = {tool["function"]["name"]: tool for tool in vapi_config(stack, stack.app_url, "--server-tools")}
    server_tool = functions["checkAvailability"]
    async with httpx.AsyncClient(timeout=30) as http:
        over_mcp = await mcp_call(http, mcp_tool, "checkAvailability", asked)
        entry = (await post_calls(http, server_tool, [{"id": "d", "name": "checkAvailability", "arguments": asked}]))[0]
    said = over_mcp["structuredContent"]["message"]
    assert said.startswith(f"{spoken_day(slipped)}, {slipped.year} has already passed; today is")
    assert over_mcp["isError"] is True  # MCP: an invalid call is a tool error, as the MCP spec asks
    assert json.loads(entry["result"])["code"] == "date_in_past"  # Vapi: a result the model acts on
    for turn in (mcp_tool_turn(mcp_tool, "checkAvailability", over_mcp), server_tool_turn(server_tool, entry)):
        assert turn.model_turn is True
        assert turn.heard == [REQUEST_START["checkAvailability"], said]
