"""`POST /vapi/tool-calls`: the same tools as Vapi "server tools", one POST per model turn.

Vapi posts a server message `{"message": {"type": "tool-calls", "toolCallList": [...], "call": {...}}}` and
reads HTTP 200 `{"results": [{"toolCallId", "name", "result" | "error"}]}`, in the order of the calls, each
value a single-line string (the same speakable JSON the MCP path returns). Vapi ignores other statuses, so a
tool's failure is an `error` entry, never a non-200; only a request that is not a tool-calls message (or has no
valid practice token) gets 4xx. Vapi's own sources disagree on a call's shape; all three are accepted:
`{id, type: "function", function: {name, arguments: "<JSON>"}}`, `{id, name, arguments: {...}}` and
`{id, name, parameters: {...}}`.

The account comes from the token only (`Authorization: Bearer` or Vapi's `X-Vapi-Secret`); `message.call.id`
is the call id (audit, idempotency, throttles) and `message.call.customer.number` the calling number, offered
to the tools as context. The tools run exactly as over MCP: this module only translates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.caller import Caller
from server.phones import to_e164
from server.services import Services
from tools import ToolSpec

PATH = "/vapi/tool-calls"
MAX_BODY_BYTES = 256 * 1024
SECRET_HEADER = "x-vapi-secret"  # noqa: S105 (a header name)
ID_LIMIT = 128
UNAUTHORIZED = {"error": "a valid practice token is required (Authorization: Bearer, or X-Vapi-Secret)"}


class NotAToolCallsMessage(ValueError):
    """The body is not a Vapi tool-calls server message; the text says why (it never quotes the body)."""


@dataclass(frozen=True)
class ToolCallRequest:
    """One entry of `toolCallList`: its arguments, or why they could not be read."""

    id: str
    name: str
    arguments: dict[str, Any]
    problem: str | None = None


@dataclass(frozen=True)
class ToolCallsMessage:
    calls: list[ToolCallRequest]
    call_id: str | None
    caller_number: str | None


def _text(value: Any, limit: int = ID_LIMIT) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_call(raw: Any) -> ToolCallRequest:
    """Any of the three shapes; unreadable arguments become a per-call problem, not a failed request."""
    if not isinstance(raw, dict):
        return ToolCallRequest("", "", {}, "each tool call must be an object")
    function = _object(raw.get("function"))
    name = _text(function.get("name") or raw.get("name"), 64)
    arguments = function.get("arguments", raw.get("arguments", raw.get("parameters", {})))
    call_id = _text(raw.get("id"))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return ToolCallRequest(call_id, name, {}, "the arguments are not valid JSON")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return ToolCallRequest(call_id, name, {}, "the arguments must be a JSON object")
    return ToolCallRequest(call_id, name, arguments)


def parse_message(body: bytes) -> ToolCallsMessage:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise NotAToolCallsMessage("the body is not JSON") from None
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or message.get("type") != "tool-calls":
        raise NotAToolCallsMessage('expected {"message": {"type": "tool-calls", ...}}')
    calls = message.get("toolCallList")
    if not isinstance(calls, list):
        raise NotAToolCallsMessage("message.toolCallList must be a list")
    call = _object(message.get("call"))
    customer = _object(call.get("customer"))
    number = _text(customer.get("number"), 32)
    return ToolCallsMessage(
        calls=[parse_call(raw) for raw in calls],
        call_id=_text(call.get("id")) or None,
        caller_number=to_e164(number) if number else None,
    )


async def _read(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return body


def _token(request: Request) -> str:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get(SECRET_HEADER, "").strip()


def tool_calls_route(tools: Sequence[ToolSpec]) -> Route:
    by_name = {tool.name: tool for tool in tools}

    async def answer(services: Services, caller: Caller, call: ToolCallRequest) -> dict[str, str]:
        entry = {"toolCallId": call.id, "name": call.name}
        tool = by_name.get(call.name)
        if tool is None:
            return {**entry, "error": "Unknown tool; use one of the tools this server lists."}
        if call.problem:
            return {**entry, "error": f"Please correct the arguments: {call.problem}."}
        answered = await tool.run(services, caller, call.arguments)
        return {**entry, ("error" if answered.is_error else "result"): " ".join(answered.text.splitlines())}

    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        token = _token(request)
        caller = await services.tokens.verify(token) if token else None
        if caller is None:
            return JSONResponse(UNAUTHORIZED, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        body = await _read(request)
        if body is None:
            return JSONResponse({"error": f"the body exceeds {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            message = parse_message(body)
        except NotAToolCallsMessage as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        caller = replace(
            caller,
            call_id=message.call_id,
            client_ip=request.client.host if request.client else None,
            caller_number=message.caller_number,
        )
        return JSONResponse({"results": [await answer(services, caller, call) for call in message.calls]})

    return Route(PATH, endpoint, methods=["POST"])
