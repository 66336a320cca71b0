"""The MCP adapter (app/mcp.py) as a client sees it: flat input schemas in `tools/list`, truthful annotations, only
the tools capability (after the initialize handshake and after discovery), unknown tools and methods as JSON-RPC
errors, unknown arguments refused by the tool without being echoed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from io import StringIO

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from app.mcp import build_mcp_server
from server.services import Services
from tests.tools.conftest import Desk
from tools import ALL_TOOLS

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def client_in(desk: Desk, mode: str) -> AsyncIterator[Client]:
    """A client of the desk's adapter in `mode`: "legacy" (the initialize handshake over in-memory streams) or
    "auto" (discovery, as `Desk.client`)."""

    @asynccontextmanager
    async def services() -> AsyncIterator[Services]:
        yield desk.services

    async with Client(build_mcp_server(ALL_TOOLS, services, bound=desk.caller("adapter")), mode=mode) as client:
        yield client


async def test_input_schemas_are_flat(desk: Desk) -> None:
    async with desk.client() as client:
        listed = (await client.list_tools()).tools
    assert listed
    for listed_tool in listed:
        text = json.dumps(listed_tool.input_schema)
        assert not [word for word in ("$ref", "$defs", "anyOf") if word in text], listed_tool.name
        properties = listed_tool.input_schema["properties"]
        assert all(spec.get("default", "") is not None for spec in properties.values())
    create = next(t for t in listed if t.name == "createPatient").input_schema
    assert create["properties"]["address"]["type"] == "object"  # inline, not a reference
    assert "email" not in create["required"]
    assert create["properties"]["consents"]["description"]


async def test_unknown_tools_are_json_rpc_errors_and_unknown_arguments_are_refused(desk: Desk) -> None:
    async with desk.client("unknown") as client:
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("deletePatient", {})
    assert unknown.value.error.code == types.INVALID_PARAMS == -32602
    extra = await desk.call("searchPatients", {"name": "Smith", "ssn": "123-45-6789"}, "extra")
    assert (extra["outcome"], extra["code"]) == ("invalid", "invalid_arguments")
    assert "ssn" not in extra["message"]
    assert "123-45-6789" not in extra["message"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_only_tools_are_advertised(desk: Desk, mode: str, captured_logs: StringIO) -> None:
    async with client_in(desk, mode) as client:
        capabilities = client.server_capabilities
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("anything")
    assert capabilities.tools is not None
    assert capabilities.prompts is None
    assert capabilities.resources is None
    assert prompt.value.error.code == types.METHOD_NOT_FOUND == -32601  # method not found, not a crash
    assert "Traceback" not in captured_logs.getvalue()


READS = {"checkAvailability", "getPracticeInfo", "getProviders", "checkInsuranceAccepted"}
CHANGES = {"updatePatient", "rescheduleAppointment", "cancelAppointment"}


async def test_annotations_say_what_a_call_does_for_any_client(desk: Desk) -> None:
    """Only reads that check nobody's identity are read-only and idempotent: a failed identity check spends
    attempts, and a write runs once per call only with a call id (`X-Call-Id`)."""
    async with desk.client() as client:
        listed = {tool.name: tool.annotations for tool in (await client.list_tools()).tools}
    assert set(listed) == {tool.name for tool in ALL_TOOLS}
    for name, hints in listed.items():
        assert hints is not None
        assert hints.read_only_hint is (name in READS), name
        assert hints.idempotent_hint is (name in READS), name
        assert hints.destructive_hint is (name in CHANGES), name
        assert hints.open_world_hint is True
    message = {"callerName": "Twice Told", "callbackNumber": "+14155550199", "reason": "No call id"}
    first = await desk.call("takeMessage", message, call_id=None)
    second = await desk.call("takeMessage", message, call_id=None)
    assert first["messageId"] != second["messageId"]  # without a call id, the same call twice is two messages


def test_provider_ids_point_to_where_they_come_from() -> None:
    """Inside checkAvailability too: the ids are listed by getProviders and carried by each slot."""
    by_name = {tool.name: tool.input_schema["properties"] for tool in ALL_TOOLS}
    for name in ("checkAvailability", "bookAppointment"):
        said = by_name[name]["providerId"]["description"]
        assert "getProviders" in said, name
        assert "from checkAvailability" not in said, name
