"""The three ways Vapi can reach a tool, side by side for a warm `searchPatients` by phone, each sample matched
with the same floor (the Sikka requests the tool must make, sent directly):

- server tools: `POST /vapi/tool-calls` on a new connection per POST, as Vapi posts them;
- the MCP tool as Vapi uses it: a new connection per invocation, then `initialize`, `notifications/initialized`
  and `tools/call` (protocol 2025-11-25);
- one MCP connection kept open, `tools/call` alone;
- and, to isolate the cost of a new connection, tool-calls POSTs on one kept connection, and `GET /healthz` (no
  tool at all) on a new connection and on a kept one.

The client is bare HTTP/1.1 (one httpcore connection object, no client-side protocol stack), so what is measured
is the server and the HTTP exchanges, not a client library's own cost. The order of the four rotates per sample
so drift affects them alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpcore

from bench.measure import elapsed_ms
from bench.processes import Stack
from bench.upstream import Sikka

PROTOCOL_VERSION = "2025-11-25"  # Vapi initializes each connection
TOOL = "searchPatients"
PATHS = (
    "tool_calls_new_connection",
    "tool_calls_reused_connection",  # not how Vapi posts: isolates what the new connection costs
    "mcp_new_connection_initialize",
    "mcp_reused_connection",
)


class PathError(Exception):
    """A path answered something other than a tool result with a business outcome."""


@dataclass
class BareHttp:
    """Bare HTTP/1.1 POSTs of JSON to the server, with the practice token."""

    server_url: str
    token: str

    def connect(self) -> httpcore.AsyncHTTPConnection:
        """A new connection (opened by its first request, closed by `aclose`)."""
        url = urlsplit(self.server_url)
        origin = httpcore.Origin(url.scheme.encode(), (url.hostname or "").encode(), url.port or 80)
        return httpcore.AsyncHTTPConnection(origin)

    async def get(self, connection: httpcore.AsyncHTTPConnection, path: str) -> int:
        response = await connection.request("GET", f"{self.server_url}{path}")
        return response.status

    async def post(
        self, connection: httpcore.AsyncHTTPConnection, path: str, body: dict[str, Any], **headers: str
    ) -> tuple[int, bytes]:
        sent: dict[str | bytes, str | bytes] = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **{name.replace("_", "-"): value for name, value in headers.items()},
        }
        response = await connection.request(
            "POST", f"{self.server_url}{path}", headers=sent, content=json.dumps(body).encode()
        )
        return response.status, response.content


def outcome_of(text: str) -> str:
    """The tool's outcome from its one-line JSON answer; raises PathError for an error outcome."""
    return str(checked(json.loads(text)).get("outcome"))


def checked(answer: dict[str, Any]) -> dict[str, Any]:
    """A tool's answer; raises PathError for an error outcome."""
    if answer.get("outcome") in ("invalid", "unavailable"):
        raise PathError(f"{answer.get('outcome')}: {answer.get('code')}")
    return answer


def rpc(method: str, params: dict[str, Any], request_id: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    return message if request_id is None else {**message, "id": request_id}


async def call_over_mcp(
    http: BareHttp, connection: httpcore.AsyncHTTPConnection, arguments: dict[str, Any], call_id: str
) -> str:
    status, body = await http.post(
        connection,
        "/mcp",
        rpc("tools/call", {"name": TOOL, "arguments": arguments}, 2),
        X_Call_Id=call_id,
        MCP_Protocol_Version=PROTOCOL_VERSION,
    )
    if status != 200:
        raise PathError(f"tools/call answered {status}")
    result = json.loads(body)["result"]
    return outcome_of(result["content"][0]["text"])


async def initialize(http: BareHttp, connection: httpcore.AsyncHTTPConnection, call_id: str) -> None:
    hello = {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
    status, _ = await http.post(connection, "/mcp", rpc("initialize", hello, 1), X_Call_Id=call_id)
    if status != 200:
        raise PathError(f"initialize answered {status}")
    status, _ = await http.post(
        connection,
        "/mcp",
        rpc("notifications/initialized", {}),
        X_Call_Id=call_id,
        MCP_Protocol_Version=PROTOCOL_VERSION,
    )
    if status != 202:
        raise PathError(f"notifications/initialized answered {status}")


async def mcp_new_connection(http: BareHttp, arguments: dict[str, Any], call_id: str) -> str:
    async with http.connect() as connection:
        await initialize(http, connection, call_id)
        return await call_over_mcp(http, connection, arguments, call_id)


async def tool_calls_new_connection(http: BareHttp, arguments: dict[str, Any], call_id: str) -> str:
    async with http.connect() as connection:
        return await tool_calls(http, connection, arguments, call_id)


async def tool_calls(
    http: BareHttp, connection: httpcore.AsyncHTTPConnection, arguments: dict[str, Any], call_id: str
) -> str:
    return str(checked(await post_tool_call(http, connection, TOOL, arguments, call_id)).get("outcome"))


async def post_tool_call(
    http: BareHttp,
    connection: httpcore.AsyncHTTPConnection,
    tool: str,
    arguments: dict[str, Any],
    call_id: str,
    caller_number: str | None = None,
) -> dict[str, Any]:
    """One tool call as Vapi posts a server tool (with the call's customer number when given): the answer."""
    call: dict[str, Any] = {"id": call_id}
    if caller_number:
        call["customer"] = {"number": caller_number}
    message = {
        "type": "tool-calls",
        "call": call,
        "toolCallList": [{"id": "call_1", "name": tool, "arguments": arguments}],
    }
    status, body = await http.post(connection, "/vapi/tool-calls", {"message": message})
    if status != 200:
        raise PathError(f"tool-calls answered {status}")
    (entry,) = json.loads(body)["results"]
    if "result" not in entry:
        raise PathError(str(entry.get("error"))[:200])
    answer: dict[str, Any] = json.loads(entry["result"])
    return answer


async def healthz(http: BareHttp, connection: httpcore.AsyncHTTPConnection | None = None) -> None:
    """`GET /healthz` on `connection`, or on a new one."""
    if connection is None:
        async with http.connect() as new:
            return await healthz(http, new)
    if await http.get(connection, "/healthz") != 200:
        raise PathError("healthz is not 200")
    return None


CONNECTION_BASELINES = ("healthz_new_connection", "healthz_reused_connection")


@dataclass
class PathRecord:
    """Matched samples: each path's latency, the floor's, and the connection baselines'."""

    ms: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in (*PATHS, "floor", *CONNECTION_BASELINES)}
    )
    errors: list[str] = field(default_factory=list)


async def timed(record: PathRecord, name: str, work: Callable[[], Awaitable[object]]) -> None:
    started = time.perf_counter()
    try:
        await work()
    except Exception as exc:  # counted; the run goes on
        record.errors.append(f"{name}: {type(exc).__name__}: {exc}"[:200])
    else:
        record.ms[name].append(elapsed_ms(started))


async def compare(
    stack: Stack,
    sikka: Sikka,
    phone_lookup: Callable[[Sikka, str], Awaitable[object]],
    patients: list[tuple[str, str]],
    call_id: Callable[[str, int], str],
    samples: int,
) -> PathRecord:
    """`patients`: (spoken phone, E.164) pairs the samples rotate through; `phone_lookup` is the floor."""
    http = BareHttp(stack.server_url, stack.token)
    record = PathRecord()
    async with http.connect() as kept, http.connect() as kept_for_tool_calls:
        await initialize(http, kept, call_id("path-init", 0))
        for i in range(samples):
            spoken, e164 = patients[i % len(patients)]
            arguments = {"phone": spoken}
            work: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                ("floor", partial(phone_lookup, sikka, e164)),
                (PATHS[0], partial(tool_calls_new_connection, http, arguments, call_id("path-tc", i))),
                (PATHS[1], partial(tool_calls, http, kept_for_tool_calls, arguments, call_id("path-tc-kept", i))),
                (PATHS[2], partial(mcp_new_connection, http, arguments, call_id("path-mcp", i))),
                (PATHS[3], partial(call_over_mcp, http, kept, arguments, call_id("path-kept", i))),
                (CONNECTION_BASELINES[0], partial(healthz, http)),
                (CONNECTION_BASELINES[1], partial(healthz, http, kept_for_tool_calls)),
            ]
            turn = i % len(work)
            for name, step in work[turn:] + work[:turn]:
                await timed(record, name, step)
    return record
