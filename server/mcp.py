"""The MCP adapter, on the SDK's public low-level server API: `tools/list` answers with each tool's own flat
input schema, `tools/call` hands the raw arguments to the tool, whose validation is the only validation.

Only tools are served, so only the tools capability is advertised. An unknown tool is a JSON-RPC error
(INVALID_PARAMS, as the spec asks); a known tool's failure is a result with `isError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from server.auth import SCOPE, AccountBinding
from server.phones import to_e164
from server.services import Services

NAME = "parlae-pms"
VERSION = "0.2.0"
INSTRUCTIONS = (
    "Tools of one dental practice's front desk. Find the caller with searchPatients, verify them with "
    "getPatientInfo (patientId, dateOfBirth and their full name) before sharing or changing anything, check "
    "openings with checkAvailability, then book, move or cancel. Hours, address, providers and accepted "
    "insurance need no verification; a balance or the insurance on file needs the same identity check. "
    "takeMessage leaves a message for the staff. Each answer starts with one sentence to say to the caller."
)
CALL_ID_HEADERS = ("x-call-id", "x-chat-id")
CALLER_NUMBER_HEADER = "x-caller-number"
ISSUER_URL = "http://127.0.0.1:8000"  # the SDK requires one; this server is a resource server only


@dataclass(frozen=True)
class Invocation:
    """Who is calling: the account comes from the verified token (or the stdio binding), never arguments.
    `caller_number` is the number the call comes from, as the phone network gave it to Vapi (E.164): offered
    to the tools as context, never as proof of identity."""

    services: Services
    account_id: str
    actor: str
    integration_id: str | None = None
    vapi_call_id: str | None = None
    ip_address: str | None = None
    caller_number: str | None = None


@dataclass(frozen=True)
class McpTool:
    name: str
    title: str
    description: str
    args: type[BaseModel]
    result: type[BaseModel]
    input_schema: dict[str, Any]
    annotations: ToolAnnotations
    phi_fields: tuple[str, ...]
    run: Callable[[Invocation, dict[str, Any]], Awaitable[CallToolResult]]

    def definition(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.input_schema,
            output_schema=self.result.model_json_schema(by_alias=True, mode="serialization"),
            annotations=self.annotations,
        )


def text_result(model: BaseModel, *, is_error: bool) -> CallToolResult:
    """Compact JSON (the speakable `message` first) for the model, and the same data as structured content."""
    return CallToolResult(
        content=[TextContent(type="text", text=model.model_dump_json(exclude_none=True))],
        structured_content=model.model_dump(mode="json"),
        is_error=is_error,
    )


def error_result(sentence: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=sentence)], is_error=True)


def _call_id(ctx: ServerRequestContext[Services]) -> str | None:
    headers = getattr(ctx.request, "headers", None) or {}
    for name in CALL_ID_HEADERS:
        value = headers.get(name)
        if value and value.strip():
            return str(value).strip()[:128]
    return None


def _client_ip(ctx: ServerRequestContext[Services]) -> str | None:
    client = getattr(ctx.request, "client", None)
    return getattr(client, "host", None)


def _caller_number(ctx: ServerRequestContext[Services]) -> str | None:
    """`X-Caller-Number` (Vapi can template `{{customer.number}}` into MCP headers), as E.164, or None."""
    headers = getattr(ctx.request, "headers", None) or {}
    raw = headers.get(CALLER_NUMBER_HEADER)
    return to_e164(str(raw)[:32]) if raw else None


def build_mcp_server(
    tools: Sequence[McpTool],
    services: Callable[[], AbstractAsyncContextManager[Services]],
    *,
    bound_account: AccountBinding | None = None,
) -> Server[Services]:
    """Over HTTP the token decides the account (see `auth_settings`); over stdio, `bound_account` is the one
    account this process serves. `services` is entered once, by the SDK's session manager."""
    by_name = {tool.name: tool for tool in tools}
    listing = types.ListToolsResult(tools=[tool.definition() for tool in tools])

    async def list_tools(
        ctx: ServerRequestContext[Services], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listing

    async def call_tool(ctx: ServerRequestContext[Services], params: types.CallToolRequestParams) -> CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        account = bound_account or AccountBinding.from_access(get_access_token())
        if account is None:  # over HTTP the SDK answers 401 before this point
            return error_result("Not authorised.")
        invocation = Invocation(
            services=ctx.lifespan_context,
            account_id=account.account_id,
            actor=account.actor,
            integration_id=account.integration_id,
            vapi_call_id=_call_id(ctx),
            ip_address=_client_ip(ctx),
            caller_number=_caller_number(ctx),
        )
        return await tool.run(invocation, dict(params.arguments or {}))

    @asynccontextmanager
    async def lifespan(_: Server[Services]) -> AsyncIterator[Services]:
        async with services() as ready:
            yield ready

    return Server(
        NAME,
        version=VERSION,
        title="Parlae dental front desk",
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def auth_settings() -> AuthSettings:
    """Bearer practice tokens with our scope on `/mcp` (no OAuth endpoints: tokens are issued by the CLI)."""
    return AuthSettings.model_validate(
        {"issuer_url": ISSUER_URL, "resource_server_url": None, "required_scopes": [SCOPE]}
    )


async def serve_stdio(server: Server[Services]) -> None:
    """One MCP connection over stdin/stdout (logs go to stderr)."""
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
