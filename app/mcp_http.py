"""The HTTP front of `/mcp`: a thin ASGI layer before the SDK's Streamable HTTP app, for what the SDK leaves to
the server or answers in a way clients cannot use.

- Only POST: stateless MCP needs nothing else, and a GET would open an SSE stream that never ends (405).
- An `MCP-Protocol-Version` header naming a version this server does not speak: 400, naming the ones it does.
- Envelopes (JSON-RPC 2.0 as MCP restricts it): a message without `"jsonrpc": "2.0"`, a request whose id is not
  a string or an integer (`null` included, which the SDK would take for a notification and drop), params that
  are not an object, a response without its id or with neither result nor error: -32600 Invalid Request, HTTP
  400, in one sentence (never a validator's text).
- Batches (a JSON array of messages): MCP 2025-03-26 requires receiving them, 2025-06-18 removed them. Without
  the header a client is taken to speak 2025-03-26, as the transport spec says (so does the SDK). Where batches
  belong to the version, each message goes to the SDK as a request of its own (the same headers, so the same
  authentication) and the answers come back as one array; at most `MAX_CALLS_PER_REQUEST` messages, and
  `initialize` may not be batched. Elsewhere a batch is -32600.
- A 401 for a request that sent no credentials carries the challenge `Bearer` without an error code (RFC 6750
  §3.1); with a token that fails, the SDK's `error="invalid_token"` stands.
Bodies the SDK handles well (parse errors, unknown methods, the 2026-07-28 envelope) go to it untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from mcp_types.version import SUPPORTED_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.bearer import challenge
from app.limits import MAX_CALLS_PER_REQUEST, replaying

MCP_PATH = "/mcp"
MAX_BODY_BYTES = 1024 * 1024  # JSON-RPC with tool arguments, which are small (the SDK's own 4 MiB never binds)
VERSION_HEADER = "mcp-protocol-version"
ASSUMED_VERSION = "2025-03-26"  # a client that sends no MCP-Protocol-Version header (the transport spec's rule)
BATCH_VERSIONS = frozenset({"2024-11-05", "2025-03-26"})  # JSON-RPC batches, until 2025-06-18 removed them
INVALID_REQUEST = -32600
NO_CREDENTIALS = {"error_description": "Authentication required: send Authorization: Bearer <practice token>."}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: Any) -> bool:
    return isinstance(value, str) or _is_int(value)


def envelope_problem(message: Any) -> str | None:
    """Why `message` is not a JSON-RPC 2.0 message MCP accepts, in words for the client; None if it is."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    if message.get("jsonrpc") != "2.0":
        return 'jsonrpc must be "2.0"'
    if "method" in message:
        if not isinstance(message["method"], str):
            return "method must be a string"
        if "id" in message and not _is_id(message["id"]):
            return "id must be a string or an integer (not null)"
        if "params" in message and not isinstance(message["params"], dict):
            return "params must be an object"
        return None
    if ("result" in message) == ("error" in message):
        return "a message needs a method, or (as a response) either a result or an error"
    request_id = message.get("id", False)  # False: no id at all, not even null
    if "result" in message:
        valid = _is_id(request_id) and isinstance(message["result"], dict)
        return None if valid else "a response needs its request's id and an object result"
    if not (request_id is None or _is_id(request_id)):
        return "an error response needs its request's id (or null)"
    error = message["error"]
    valid = isinstance(error, dict) and _is_int(error.get("code")) and isinstance(error.get("message"), str)
    return None if valid else "an error needs an integer code and a message"


def rpc_error(message: Any, problem: str) -> dict[str, Any]:
    """The -32600 answer to `message`, with its id when it has a usable one."""
    request_id = message.get("id") if isinstance(message, dict) and _is_id(message.get("id")) else None
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": INVALID_REQUEST, "message": f"Invalid Request: {problem}."},
    }


def invalid_request(message: Any, problem: str) -> Response:
    return JSONResponse(rpc_error(message, problem), status_code=400)


@dataclass
class Captured:
    """The SDK's answer to one message of a batch."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)

    async def collect(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status, self.headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body.extend(message.get("body", b""))

    def answer(self) -> dict[str, Any] | None:
        """The JSON-RPC message answered, None for an accepted notification or response; raises ValueError when
        the SDK refused the request itself (authentication, Host, Accept), which then answers the whole batch."""
        if self.status == 202 and not self.body:
            return None
        answered = pydantic_core.from_json(bytes(self.body)) if self.body else None
        if not isinstance(answered, dict) or answered.get("jsonrpc") != "2.0":
            raise ValueError("not a JSON-RPC answer")
        return answered

    async def replay(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": bytes(self.body)})


class McpFront:
    """In front of the SDK's app (`app`), on `MCP_PATH` only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != MCP_PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await PlainTextResponse("Method Not Allowed", status_code=405, headers={"Allow": "POST"})(
                scope, receive, send
            )
            return
        send = self._challenging(scope, send)
        version = Headers(scope=scope).get(VERSION_HEADER)
        if version is not None and version not in SUPPORTED_PROTOCOL_VERSIONS:
            spoken = ", ".join(SUPPORTED_PROTOCOL_VERSIONS)
            unknown = f"this server does not speak that MCP-Protocol-Version; it speaks {spoken}"
            await invalid_request(None, unknown)(scope, receive, send)
            return
        body = await Request(scope, receive).body()
        try:
            message = pydantic_core.from_json(body)
        except ValueError:  # the SDK answers -32700 Parse error
            await self.app(scope, replaying(body, receive), send)
            return
        if isinstance(message, list):
            await self._batch(scope, receive, send, message, version or ASSUMED_VERSION)
            return
        if problem := envelope_problem(message):
            await invalid_request(message, problem)(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)

    async def _batch(self, scope: Scope, receive: Receive, send: Send, batch: list[Any], version: str) -> None:
        if version not in BATCH_VERSIONS:
            removed = f"batches are not part of MCP {version}; send one message per request"
            await invalid_request(None, removed)(scope, receive, send)
            return
        if not batch:
            await invalid_request(None, "an empty batch")(scope, receive, send)
            return
        answers = []
        for index, message in enumerate(batch):
            problem = envelope_problem(message)
            if problem is None and message.get("method") == "initialize":
                problem = "initialize cannot be part of a batch"
            elif problem is None and index >= MAX_CALLS_PER_REQUEST:
                problem = f"at most {MAX_CALLS_PER_REQUEST} messages are answered in a batch"
            if problem is not None:
                if not (isinstance(message, dict) and "method" in message and "id" not in message):
                    answers.append(rpc_error(message, problem))  # a notification gets no answer, even an error
                continue
            captured = await self._alone(scope, receive, message)
            try:
                answered = captured.answer()
            except ValueError:
                await captured.replay(send)
                return
            if answered is not None:
                answers.append(answered)
        response = JSONResponse(answers) if answers else Response(status_code=202)
        await response(scope, receive, send)

    async def _alone(self, scope: Scope, receive: Receive, message: dict[str, Any]) -> Captured:
        """One message of a batch through the SDK, as a request of its own."""
        body = json.dumps(message).encode()
        headers = [(name, value) for name, value in scope["headers"] if name != b"content-length"]
        single = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        captured = Captured()
        await self.app(single, replaying(body, receive), captured.collect)
        return captured

    @staticmethod
    def _challenging(scope: Scope, send: Send) -> Send:
        """`send`, answering a 401 to a request without credentials with the bare challenge (RFC 6750 §3.1)."""
        if "authorization" in Headers(scope=scope):
            return send
        replaced = False

        async def rewrite(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 401:
                replaced = True
                body = json.dumps(NO_CREDENTIALS).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", challenge(credentials_sent=False).encode()),
                ]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            elif not replaced:
                await send(message)

        return rewrite
