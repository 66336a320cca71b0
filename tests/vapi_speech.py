"""A test double of what Vapi says around a tool call, strict to its published rules: given the tool's
configuration (as `vapi-config` prints it) and the server's answer, what the caller hears and whether the model
gets a turn.

The rules, from Vapi's API schema (`ToolMessageStart`, `ToolMessageComplete`, `ToolMessageFailed`,
`ToolCallResult`, `McpToolMessages`) and its pages "Custom tools" and "MCP tool messages and results":
- `request-start` is spoken when the call starts.
- A server tool's answer is `result` or `error`; an MCP tool's is a `CallToolResult`, failed when `isError`.
- A failed call: the answer's own `message` if it is a `request-failed`, else the tool's `request-failed`
  message if it has one, is spoken, and then "the model will not be requested to come up with a response"
  (an exclusive OR); without either, the model is asked to respond. A successful call, likewise with
  `request-complete`. `endCallAfterSpokenEnabled` on the spoken message ends the call.
- An MCP tool's messages: the `toolMessages` entry with the tool's name on the server, if any (an empty list
  silences the tool), else the MCP tool's `messages`; with neither, Vapi says a short default phrase at start.
- `request-response-delayed` is spoken when the answer takes longer than its `timingMilliseconds`.
What the double cannot model it refuses (messages with `conditions`, `contents` variants, async tools) rather
than guess. When the model gets its turn, the double has it say the answer's `message` (the sentence the
server puts first for exactly that purpose), or the text it was given when that is not JSON with a `message`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

KNOWN_TYPES = frozenset({"request-start", "request-response-delayed", "request-complete", "request-failed"})
VAPI_DEFAULT_START = "<Vapi's default phrase, such as 'Give me a moment'>"


@dataclass(frozen=True)
class Turn:
    """What happens around one tool call, in order."""

    start: str | None  # the request-start line
    delayed: str | None  # the request-response-delayed line, when the answer took that long
    fixed: str | None  # the request-complete/-failed line spoken instead of the model
    model_turn: bool  # the model is asked to respond (and reads the answer)
    model_reads: str  # the answer's text as it enters the conversation
    call_ends: bool = False

    @property
    def heard(self) -> list[str]:
        """The caller's side of the exchange: the fixed lines, and the model's reply when it has the turn."""
        reply = [said_by_model(self.model_reads)] if self.model_turn else []
        return [line for line in (self.start, self.delayed, self.fixed) if line] + reply


def said_by_model(text: str) -> str:
    try:
        answer = json.loads(text)
    except ValueError:
        return text
    return str(answer["message"]) if isinstance(answer, dict) and "message" in answer else text


def _checked(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    for message in messages:
        if message.get("type") not in KNOWN_TYPES:
            raise ValueError(f"not a Vapi tool message type: {message.get('type')!r}")
        unsupported = {"conditions", "contents"} & set(message)
        if unsupported:
            raise NotImplementedError(f"the double does not model {sorted(unsupported)}")
        if not isinstance(message.get("content"), str):
            raise ValueError("a tool message needs its content")
    return list(messages)


def _first(messages: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((m for m in messages if m["type"] == kind), None)


def _turn(
    messages: list[dict[str, Any]],
    failed: bool,
    text: str,
    own: dict[str, Any] | None,
    elapsed_ms: int,
    start: str | None,
) -> Turn:
    delayed = _first(messages, "request-response-delayed")
    late = delayed is not None and elapsed_ms >= int(delayed.get("timingMilliseconds", 0))
    kind = "request-failed" if failed else "request-complete"
    spoken = own if own is not None and own.get("type") == kind else _first(messages, kind)
    return Turn(
        start=start,
        delayed=str(delayed["content"]) if late and delayed else None,
        fixed=str(spoken["content"]) if spoken else None,
        model_turn=spoken is None,
        model_reads=text,
        call_ends=bool(spoken and spoken.get("endCallAfterSpokenEnabled")),
    )


def server_tool_turn(tool: dict[str, Any], entry: dict[str, Any], elapsed_ms: int = 0) -> Turn:
    """A function tool (`type: function`) and its `results` entry from `POST /vapi/tool-calls`."""
    if tool.get("type") != "function" or tool.get("async"):
        raise NotImplementedError("the double models synchronous function tools")
    if ("result" in entry) == ("error" in entry):
        raise ValueError("a ToolCallResult carries either result or error")
    for value in (entry.get("result"), entry.get("error")):
        if value is not None and (not isinstance(value, str) or "\n" in value):
            raise ValueError("Vapi takes a single-line string")  # its troubleshooting page: line breaks break parsing
    messages = _checked(tool.get("messages", []))
    own = entry.get("message")
    text = str(entry["error"] if "error" in entry else entry["result"])
    start = _first(messages, "request-start")
    return _turn(messages, "error" in entry, text, own, elapsed_ms, str(start["content"]) if start else None)


def mcp_tool_turn(tool: dict[str, Any], name: str, result: dict[str, Any], elapsed_ms: int = 0) -> Turn:
    """The MCP tool (`type: mcp`), the name of the tool called on the server, and its `CallToolResult` (JSON)."""
    if tool.get("type") != "mcp":
        raise ValueError("not an MCP tool")
    per_tool = {entry["name"]: entry.get("messages", []) for entry in tool.get("toolMessages", [])}
    configured = name in per_tool or "messages" in tool
    messages = _checked(per_tool[name] if name in per_tool else tool.get("messages", []))
    texts = [part["text"] for part in result.get("content", []) if part.get("type") == "text"]
    start = _first(messages, "request-start")
    said = str(start["content"]) if start else (None if configured else VAPI_DEFAULT_START)
    return _turn(messages, bool(result.get("isError")), " ".join(texts), None, elapsed_ms, said)
