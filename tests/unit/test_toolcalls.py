"""The tool-calls adapter's pure parts (app/toolcalls.py): reading every call shape, older payloads and capped
calls, refusing what is not a server message, the result/error mapping by outcome, and a call's state that could
not be updated answered 503 rather than a crash."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from sqlalchemy.exc import OperationalError

from app import toolcalls
from app.limits import MAX_CALLS_PER_REQUEST
from app.toolcalls import NotAServerMessage, ToolCallRequest, lifecycle, parse_message, result_entry
from server.audit import AuditUnavailable
from server.caller import Caller
from server.services import Services
from tools import ToolAnswer
from tools.codes import OUTCOME_OF, Outcome
from tools.results import ToolResult

pytestmark = pytest.mark.anyio


def body(message: dict[str, Any]) -> bytes:
    return json.dumps({"message": message}).encode()


def test_older_payloads_are_read_from_tool_with_tool_call_list() -> None:
    legacy = [
        {"name": "getProviders", "toolCall": {"id": "a", "parameters": {"x": 1}}},
        {"function": {"name": "takeMessage"}, "toolCall": {"id": "b", "function": {"arguments": '{"y": 2}'}}},
    ]
    calls = parse_message(body({"type": "tool-calls", "toolWithToolCallList": legacy})).calls
    assert calls == [ToolCallRequest("a", "getProviders", {"x": 1}), ToolCallRequest("b", "takeMessage", {"y": 2})]
    both = {"type": "tool-calls", "toolCallList": [{"id": "c", "name": "getProviders"}], "toolWithToolCallList": legacy}
    assert [call.id for call in parse_message(body(both)).calls] == ["c"]  # the current list wins


def test_calls_beyond_the_cap_are_named_not_read() -> None:
    calls = [{"id": str(n), "name": "getProviders", "arguments": "{}"} for n in range(MAX_CALLS_PER_REQUEST + 2)]
    calls[-1]["arguments"] = "[" * 10_000
    parsed = parse_message(body({"type": "tool-calls", "toolCallList": calls})).calls
    assert [call.over_cap for call in parsed] == [False] * MAX_CALLS_PER_REQUEST + [True, True]
    assert parsed[-1] == ToolCallRequest(str(MAX_CALLS_PER_REQUEST + 1), "getProviders", {}, over_cap=True)


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"message": ' * 300 + b"{}" + b"}" * 300, b'{"message": {}}', b'{"message": {"type": 1}}', b"[]"],
)
def test_what_is_not_a_server_message_is_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(NotAServerMessage):
        parse_message(raw)


def test_unreadable_arguments_are_a_problem_of_that_call() -> None:
    calls = [
        {"id": "1", "function": {"name": "a", "arguments": "[" * 10_000}},
        {"id": "2", "name": "a", "arguments": [1]},
        "not an object",
    ]
    parsed = parse_message(body({"type": "tool-calls", "toolCallList": calls})).calls
    assert [call.problem for call in parsed] == [
        "the arguments are not valid JSON",
        "the arguments must be a JSON object",
        "each tool call must be an object",
    ]


@pytest.mark.parametrize("outcome", get_args(Outcome))
def test_only_what_the_model_cannot_act_on_is_an_error(outcome: Outcome) -> None:
    code = next(code for code, its in OUTCOME_OF.items() if its == outcome)
    answer = ToolAnswer.of(ToolResult(message="A sentence.", code=code))
    entry = result_entry(ToolCallRequest("1", "tool", {}), answer)
    assert ("error" in entry) == (outcome == "unavailable")
    failed_closed = result_entry(ToolCallRequest("1", "tool", {}), ToolAnswer(None, "I can't complete that."))
    assert failed_closed["error"] == "I can't complete that."


@pytest.mark.parametrize("error", [AuditUnavailable("down"), OperationalError("x", {}, Exception("down"))])
async def test_a_call_end_that_cannot_be_recorded_is_503(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    async def failing(services: Services, caller: Caller) -> None:
        raise error

    monkeypatch.setattr(toolcalls, "call_ended", failing)
    ended = parse_message(body({"type": "end-of-call-report", "call": {"id": "c1"}}))
    response = await lifecycle(None, Caller("a1", "tok_1", call_id="c1"), ended)  # type: ignore[arg-type]
    assert response.status_code == 503
