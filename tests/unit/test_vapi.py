"""The Vapi MCP tool JSON: every tool has its own request-start line and keeps the delayed and failed ones."""

from __future__ import annotations

from app.vapi import DEFAULT_MESSAGES, REQUEST_START, vapi_tool
from tools import ALL_TOOLS


def test_every_tool_has_a_request_start_message_and_no_other_names_do() -> None:
    assert set(REQUEST_START) == {tool.name for tool in ALL_TOOLS}


def test_tool_messages_replace_the_defaults_per_tool_so_each_keeps_all_three() -> None:
    config = vapi_tool("https://mcp.example.com/mcp", credential_id="cred_1")
    assert config["messages"] == list(DEFAULT_MESSAGES)
    by_name = {entry["name"]: entry["messages"] for entry in config["toolMessages"]}
    assert set(by_name) == set(REQUEST_START)
    for name, messages in by_name.items():
        assert [m["type"] for m in messages] == ["request-start", "request-response-delayed", "request-failed"]
        assert messages[0]["content"] == REQUEST_START[name]
    assert by_name["takeMessage"][0]["content"] == "I'm writing that down for the staff."
    assert config["server"] == {"url": "https://mcp.example.com/mcp", "timeoutSeconds": 20, "credentialId": "cred_1"}
