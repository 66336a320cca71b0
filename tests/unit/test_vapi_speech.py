"""The Vapi speaking-rules double (tests/vapi_speech.py) against each published rule, and the reason for the
configs `vapi-config` prints: with the old request-failed line, an `invalid` slip made the caller hear "I can't
reach the office system" and left the model no turn to fix it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.vapi import REQUEST_START, server_tools, vapi_tool
from tests.vapi_speech import VAPI_DEFAULT_START, mcp_tool_turn, server_tool_turn
from tools import ALL_TOOLS

OLD_FAILED = {"type": "request-failed", "content": "I'm sorry, I can't reach the office system right now."}
SLIP = json.dumps({"message": "That date has already passed; today is Monday.", "outcome": "invalid"})


def function_tool(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "async": False, "function": {"name": "checkAvailability"}, "messages": list(messages)}


START = {"type": "request-start", "content": "Let me check the schedule."}


def test_a_failed_call_with_a_request_failed_message_speaks_only_it_and_the_model_gets_no_turn() -> None:
    turn = server_tool_turn(function_tool(START, OLD_FAILED), {"toolCallId": "1", "name": "x", "error": SLIP})
    assert turn.heard == ["Let me check the schedule.", "I'm sorry, I can't reach the office system right now."]
    assert turn.model_turn is False
    mcp = {"type": "mcp", "messages": [START, OLD_FAILED]}
    over_mcp = mcp_tool_turn(mcp, "checkAvailability", {"content": [{"type": "text", "text": SLIP}], "isError": True})
    assert (over_mcp.fixed, over_mcp.model_turn) == (OLD_FAILED["content"], False)


def test_without_a_fixed_message_the_model_responds_with_the_servers_sentence() -> None:
    failed = server_tool_turn(function_tool(START), {"toolCallId": "1", "name": "x", "error": SLIP})
    succeeded = server_tool_turn(function_tool(START, OLD_FAILED), {"toolCallId": "1", "name": "x", "result": SLIP})
    for turn in (failed, succeeded):
        assert turn.model_turn is True
        assert turn.heard == ["Let me check the schedule.", "That date has already passed; today is Monday."]


def test_request_complete_replaces_the_model_and_the_answers_own_message_comes_first() -> None:
    complete = {"type": "request-complete", "content": "Done.", "endCallAfterSpokenEnabled": True}
    turn = server_tool_turn(function_tool(complete), {"toolCallId": "1", "name": "x", "result": SLIP})
    assert (turn.heard, turn.model_turn, turn.call_ends) == (["Done."], False, True)
    own = {"type": "request-complete", "content": "All set."}
    entry = {"toolCallId": "1", "name": "x", "result": SLIP, "message": own}
    assert server_tool_turn(function_tool(complete), entry).heard == ["All set."]
    wrong_kind = {**entry, "message": {"type": "request-failed", "content": "Oops."}}
    assert server_tool_turn(function_tool(complete), wrong_kind).heard == ["Done."]


def test_mcp_tool_messages_are_per_tool_then_the_tools_then_vapis_default() -> None:
    mcp = {
        "type": "mcp",
        "messages": [{"type": "request-start", "content": "One moment."}],
        "toolMessages": [{"name": "getProviders", "messages": [START]}, {"name": "takeMessage", "messages": []}],
    }
    ok = {"content": [{"type": "text", "text": SLIP}], "isError": False}
    assert mcp_tool_turn(mcp, "getProviders", ok).start == "Let me check the schedule."
    assert mcp_tool_turn(mcp, "getPracticeInfo", ok).start == "One moment."
    assert mcp_tool_turn(mcp, "takeMessage", ok).start is None  # an empty list silences the tool
    assert mcp_tool_turn({"type": "mcp"}, "getProviders", ok).start == VAPI_DEFAULT_START


def test_the_delayed_line_is_spoken_only_after_its_time() -> None:
    delayed = {"type": "request-response-delayed", "content": "Still checking...", "timingMilliseconds": 2000}
    entry = {"toolCallId": "1", "name": "x", "result": SLIP}
    assert server_tool_turn(function_tool(START, delayed), entry, elapsed_ms=1999).delayed is None
    assert server_tool_turn(function_tool(START, delayed), entry, elapsed_ms=2000).delayed == "Still checking..."


def test_what_the_double_cannot_model_it_refuses() -> None:
    entry = {"toolCallId": "1", "name": "x", "result": SLIP}
    with pytest.raises(NotImplementedError):
        server_tool_turn(function_tool({**START, "conditions": [{"param": "date"}]}), entry)
    with pytest.raises(NotImplementedError):
        server_tool_turn({**function_tool(START), "async": True}, entry)
    with pytest.raises(ValueError, match="single-line"):
        server_tool_turn(function_tool(START), {"toolCallId": "1", "name": "x", "result": "two\nlines"})
    with pytest.raises(ValueError, match="either result or error"):
        server_tool_turn(function_tool(START), {"toolCallId": "1", "name": "x"})
    with pytest.raises(ValueError, match="message type"):
        server_tool_turn(function_tool({"type": "request-done", "content": "x"}), entry)


@pytest.mark.parametrize("failed", [False, True])
def test_the_printed_configs_never_speak_for_the_model(failed: bool) -> None:
    mcp = vapi_tool("https://mcp.example.com/mcp", credential_id="cred_1")
    result = {"content": [{"type": "text", "text": SLIP}], "isError": failed}
    entry = {"toolCallId": "1", "name": "x", ("error" if failed else "result"): SLIP}
    for tool, config in zip(ALL_TOOLS, server_tools(ALL_TOOLS, "https://h/vapi/tool-calls", token="t"), strict=True):
        for turn in (mcp_tool_turn(mcp, tool.name, result), server_tool_turn(config, entry)):
            assert turn.model_turn is True
            assert turn.heard == [REQUEST_START[tool.name], "That date has already passed; today is Monday."]
