"""The Vapi tool JSON: every tool has its own request-start line and keeps the delayed one, in the MCP tool and in
the server tools, and none has a request-complete or request-failed line (Vapi would speak it instead of the
model: tests/unit/test_vapi_speech.py); server tools carry each tool's own flat schema."""

from __future__ import annotations

from app.vapi import DEFAULT_MESSAGES, REQUEST_START, server_tools, vapi_tool
from tools import ALL_TOOLS


def test_every_tool_has_a_request_start_message_and_no_other_names_do() -> None:
    assert set(REQUEST_START) == {tool.name for tool in ALL_TOOLS}


def test_tool_messages_replace_the_defaults_per_tool_so_each_keeps_both() -> None:
    config = vapi_tool("https://mcp.example.com/mcp", credential_id="cred_1")
    assert config["messages"] == list(DEFAULT_MESSAGES)
    by_name = {entry["name"]: entry["messages"] for entry in config["toolMessages"]}
    assert set(by_name) == set(REQUEST_START)
    for name, messages in by_name.items():
        assert [m["type"] for m in messages] == ["request-start", "request-response-delayed"]
        assert messages[0]["content"] == REQUEST_START[name]
    assert by_name["takeMessage"][0]["content"] == "I'm writing that down for the staff."
    assert config["server"] == {"url": "https://mcp.example.com/mcp", "timeoutSeconds": 20, "credentialId": "cred_1"}


def test_server_tools_are_one_function_tool_per_tool_with_its_flat_schema_and_the_same_server() -> None:
    url = "https://mcp.example.com/vapi/tool-calls"
    configs = server_tools(ALL_TOOLS, url, token="pmt_x")
    assert [c["function"]["name"] for c in configs] == [tool.name for tool in ALL_TOOLS]
    for config, tool in zip(configs, ALL_TOOLS, strict=True):
        assert config["type"] == "function"
        assert config["async"] is False
        assert config["function"]["description"] == tool.description
        assert config["function"]["parameters"] == tool.input_schema
        assert "$defs" not in str(config["function"]["parameters"])
        assert config["server"] == {"url": url, "timeoutSeconds": 20, "headers": {"Authorization": "Bearer pmt_x"}}
        assert [m["type"] for m in config["messages"]] == ["request-start", "request-response-delayed"]
        assert config["messages"][0]["content"] == REQUEST_START[tool.name]
    with_credential = server_tools(ALL_TOOLS[:1], url, credential_id="cred_1")
    assert with_credential[0]["server"] == {"url": url, "timeoutSeconds": 20, "credentialId": "cred_1"}
