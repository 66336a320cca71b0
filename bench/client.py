"""Tool calls through the official MCP SDK client: one `POST /mcp` per call, with the call's `X-Call-Id`.

A `Client` validates each result against the tool's listed output schema and lists the tools first if it has
not yet (a second POST). So each worker keeps one client whose listing is fetched once, untimed, and stamps
`X-Call-Id` per call from a context variable (the SDK sends each request in its caller's context).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

MODE = "2026-07-28"
TIMEOUT_SECONDS = 30.0
ERROR_OUTCOMES = frozenset({"invalid", "unavailable"})  # anything else is a business answer

_call_id: ContextVar[str | None] = ContextVar("bench_call_id", default=None)


class ToolError(Exception):
    """A call that failed: an error outcome, or an error result without one."""


async def _stamp_call_id(request: httpx2.Request) -> None:
    call_id = _call_id.get()
    if call_id:
        request.headers["X-Call-Id"] = call_id


def _http(token: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT_SECONDS,
        event_hooks={"request": [_stamp_call_id]},
    )


class ToolClient:
    """An SDK client bound to one practice token."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, tool: str, arguments: dict[str, Any], call_id: str) -> dict[str, Any]:
        """The tool's structured result; raises ToolError for error results."""
        token = _call_id.set(call_id)
        try:
            result = await self.client.call_tool(tool, arguments)
        finally:
            _call_id.reset(token)
        data = dict(result.structured_content or {})
        outcome = data.get("outcome")
        if outcome in ERROR_OUTCOMES or (result.is_error and outcome is None):
            raise ToolError(f"{tool}: {data.get('code') or result.content}")
        return data


@asynccontextmanager
async def tool_client(url: str, token: str) -> AsyncIterator[ToolClient]:
    """A connected client whose tool listing is already known, so every call is a single POST."""
    async with _http(token) as http, Client(streamable_http_client(url, http_client=http), mode=MODE) as client:
        await client.list_tools()
        yield ToolClient(client)


async def fresh_client_call(url: str, token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A call the way a new SDK client makes it: new connection, `tools/call`, then `tools/list` to validate."""
    async with _http(token) as http, Client(streamable_http_client(url, http_client=http), mode=MODE) as client:
        result = await client.call_tool(tool, arguments)
    return dict(result.structured_content or {})
