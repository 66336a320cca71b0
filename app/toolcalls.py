"""`POST /vapi/tool-calls`: the tools as Vapi "server tools", and the call's other server messages.

Vapi posts a server message `{"message": {"type": ..., "call": {...}, ...}}` and ignores any answer but 200, so
every server message gets 200:
- `tool-calls`: `{"results": [{"toolCallId", "name", "result" | "error"}]}`, in the order of the calls, each
  value a single-line string (the same speakable JSON the MCP path returns). The calls are `toolCallList`, in
  any of the three shapes Vapi's sources use (`{id, type: "function", function: {name, arguments: "<JSON>"}}`,
  `{id, name, arguments: {...}}`, `{id, name, parameters: {...}}`), or, in older payloads that carry only
  `toolWithToolCallList`, each entry's `toolCall`. At most `MAX_CALLS_PER_REQUEST` calls run; any beyond get
  an `error` each and do not run.
- `status-update` with status `in-progress` starts the call (`server.calls.call_started`: its prefetch is
  queued; so is it on a tool-calls message of a call that carries the calling number), with status `ended`
  ends it (`call_ended`: its per-call limits and stored write outcomes go); so does the `end-of-call-report`.
- any other type (`conversation-update`, `hang`, `transcript`, ...): nothing to do, `{}`.
Only a body that is not a server message (not JSON, nested too deeply, no `message.type`) gets 400, and a
request without a valid practice token 401.

What Vapi makes of an answer (docs/vapi.md §4): an `error`, or a `result`, is followed by the tool's
`request-failed` (or `request-complete`) message when it has one, and then the model gets no turn. So an answer
the model can act on (a slip to fix, a patient to verify, a refusal to explain, a pending write) is a `result`,
whatever its outcome; only what it cannot act on is an `error`: the office system unreachable (`unavailable`),
the call failed closed (no audit record), or a call beyond the cap.

The account comes from the token only (`Authorization: Bearer` or Vapi's `X-Vapi-Secret`); `message.call.id`
is the call id (audit, idempotency, throttles) and `message.call.customer.number` the calling number, offered
to the tools as context. The tools run exactly as over MCP: this module only translates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pydantic_core
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.bearer import challenge
from app.limits import MAX_CALLS_PER_REQUEST
from server.audit import AuditUnavailable
from server.caller import Caller
from server.calls import call_ended, call_started
from server.db.engine import DATABASE_ERRORS
from server.logs import get_logger
from server.phones import to_e164
from server.services import Services
from tools import ToolAnswer, ToolSpec
from tools.codes import Code, Outcome
from tools.results import ToolResult

log = get_logger(__name__)

PATH = "/vapi/tool-calls"
# A message carries the conversation so far (`artifact`, `messagesOpenAIFormatted`) and the assistant: an hour
# of conversation with tool results is well under 1 MiB; the rest is headroom.
MAX_BODY_BYTES = 4 * 1024 * 1024
SECRET_HEADER = "x-vapi-secret"  # noqa: S105 (a header name)
ID_LIMIT = 128
UNAUTHORIZED = {"error": "a valid practice token is required (Authorization: Bearer, or X-Vapi-Secret)"}
# What the model cannot act on: Vapi's `error`. Everything else is a `result` (see the module's docstring).
ERROR_OUTCOMES: frozenset[Outcome] = frozenset({"unavailable"})
STATE_ERRORS: tuple[type[Exception], ...] = (AuditUnavailable, *DATABASE_ERRORS)  # a call's state not updated
NOT_RUN = ToolResult(
    message=f"This call was not run: at most {MAX_CALLS_PER_REQUEST} tool calls are answered at a time; call it again.",
    outcome="refused",
    code=Code.TOO_MANY_CALLS,
)


class NotAServerMessage(ValueError):
    """The body is not a Vapi server message; the text says why (it never quotes the body)."""


@dataclass(frozen=True)
class ToolCallRequest:
    """One tool call: its arguments, or why they could not be read; a call beyond the cap is not read at all."""

    id: str
    name: str
    arguments: dict[str, Any]
    problem: str | None = None
    over_cap: bool = False


@dataclass(frozen=True)
class ServerMessage:
    type: str
    status: str  # a status-update's status, else ""
    calls: list[ToolCallRequest]  # a tool-calls message's calls, else empty
    call_id: str | None
    caller_number: str | None


def _text(value: Any, limit: int = ID_LIMIT) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_call(raw: Any, *, over_cap: bool = False) -> ToolCallRequest:
    """Any of the three shapes, or a legacy `toolWithToolCallList` entry (`{name | function: {name}, toolCall:
    {id, function | parameters}}`); unreadable arguments become a per-call problem, not a failed request."""
    if not isinstance(raw, dict):
        return ToolCallRequest("", "", {}, "each tool call must be an object", over_cap)
    call = _object(raw.get("toolCall")) or raw
    function = _object(call.get("function"))
    names = (function.get("name"), call.get("name"), raw.get("name"), _object(raw.get("function")).get("name"))
    name = next((_text(name, 64) for name in names if _text(name, 64)), "")
    call_id = _text(call.get("id"))
    if over_cap:
        return ToolCallRequest(call_id, name, {}, over_cap=True)
    arguments = function.get("arguments", call.get("arguments", call.get("parameters", {})))
    if isinstance(arguments, str):
        try:
            arguments = pydantic_core.from_json(arguments) if arguments.strip() else {}
        except ValueError:  # also past the parser's nesting depth
            return ToolCallRequest(call_id, name, {}, "the arguments are not valid JSON")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return ToolCallRequest(call_id, name, {}, "the arguments must be a JSON object")
    return ToolCallRequest(call_id, name, arguments)


def parse_calls(message: dict[str, Any]) -> list[ToolCallRequest]:
    """`toolCallList`, or in older payloads `toolWithToolCallList`; calls beyond the cap are named, not read."""
    calls = message.get("toolCallList")
    if not isinstance(calls, list):
        calls = message.get("toolWithToolCallList")
    if not isinstance(calls, list):
        raise NotAServerMessage("a tool-calls message needs toolCallList (or toolWithToolCallList)")
    return [parse_call(raw, over_cap=index >= MAX_CALLS_PER_REQUEST) for index, raw in enumerate(calls)]


def parse_message(body: bytes) -> ServerMessage:
    try:
        data = pydantic_core.from_json(body)  # raises ValueError past a nesting depth (no RecursionError)
    except ValueError:
        raise NotAServerMessage("the body is not JSON, or is nested too deeply") from None
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise NotAServerMessage('expected a Vapi server message: {"message": {"type": ..., ...}}')
    kind = message["type"]
    call = _object(message.get("call"))
    number = _text(_object(call.get("customer")).get("number"), 32)
    return ServerMessage(
        type=kind,
        status=_text(message.get("status"), 32),
        calls=parse_calls(message) if kind == "tool-calls" else [],
        call_id=_text(call.get("id")) or None,
        caller_number=to_e164(number) if number else None,
    )


def slip(code: Code, message: str) -> ToolAnswer:
    """A call the server could not hand to a tool, answered like a tool's `invalid` outcome."""
    return ToolAnswer.of(ToolResult(message=message, outcome="invalid", code=code))


def result_entry(call: ToolCallRequest, answer: ToolAnswer) -> dict[str, str]:
    """One `results` entry: `error` for what the model cannot act on, else `result`; the text on one line."""
    failed = answer.result is None or answer.result.outcome in ERROR_OUTCOMES
    return {
        "toolCallId": call.id,
        "name": call.name,
        ("error" if failed else "result"): " ".join(answer.text.splitlines()),
    }


def _token(request: Request) -> str:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get(SECRET_HEADER, "").strip()


def _unauthorized(request: Request) -> Response:
    sent = "authorization" in request.headers or SECRET_HEADER in request.headers
    return JSONResponse(UNAUTHORIZED, status_code=401, headers={"WWW-Authenticate": challenge(credentials_sent=sent)})


async def lifecycle(services: Services, caller: Caller, message: ServerMessage) -> Response:
    """A status update or the end-of-call report: start or end the call's server-side state."""
    ended = message.type == "end-of-call-report" or (message.type == "status-update" and message.status == "ended")
    try:
        if ended:
            await call_ended(services, caller)
        elif message.type == "status-update" and message.status == "in-progress":
            await call_started(services, caller)
    except STATE_ERRORS as exc:
        log.error("call state not updated", message_type=message.type, error=type(exc).__name__)
        return JSONResponse({"error": "the call's state could not be updated; try again shortly"}, status_code=503)
    return JSONResponse({})


def tool_calls_route(tools: Sequence[ToolSpec]) -> Route:
    by_name = {tool.name: tool for tool in tools}

    async def answer(services: Services, caller: Caller, call: ToolCallRequest) -> dict[str, str]:
        tool = by_name.get(call.name)
        if call.over_cap:
            return {"toolCallId": call.id, "name": call.name, "error": NOT_RUN.model_dump_json(exclude_none=True)}
        if tool is None:
            return result_entry(call, slip(Code.UNKNOWN_TOOL, "Unknown tool; use one of the tools this server lists."))
        if call.problem:
            return result_entry(call, slip(Code.INVALID_ARGUMENTS, f"Please correct the arguments: {call.problem}."))
        return result_entry(call, await tool.run(services, caller, call.arguments))

    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        token = _token(request)
        caller = await services.tokens.verify(token) if token else None
        if caller is None:
            return _unauthorized(request)
        try:
            message = parse_message(await request.body())  # at most MAX_BODY_BYTES (the app's body limit)
        except NotAServerMessage as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        caller = replace(
            caller,
            call_id=message.call_id,
            client_ip=request.client.host if request.client else None,
            caller_number=message.caller_number,
        )
        if message.type != "tool-calls":
            return await lifecycle(services, caller, message)
        services.prefetcher.start(caller)  # once per call: a call whose start Vapi did not report
        return JSONResponse({"results": [await answer(services, caller, call) for call in message.calls]})

    return Route(PATH, endpoint, methods=["POST"])
