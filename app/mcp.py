"""The MCP adapter, on the SDK's public low-level server API: `tools/list` answers with each tool's own flat
input schema, `tools/call` hands the raw arguments to the tool, whose validation is the only validation.

Only tools are served, so only the tools capability is advertised. An unknown tool is a JSON-RPC error
(INVALID_PARAMS, as the spec asks); a known tool's failure is a result with `isError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace

import mcp_types as types
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent, ToolAnnotations

from server.auth import PracticeTokenVerifier, token_hash
from server.caller import Caller
from server.phones import to_e164
from server.services import Services
from tools import ToolAnswer, ToolSpec

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
SCOPE = "pms"


class SdkTokenVerifier:
    """The SDK's `TokenVerifier` on our practice tokens: the AccessToken carries the caller the token stands for."""

    def __init__(self, tokens: PracticeTokenVerifier) -> None:
        self.tokens = tokens

    async def verify_token(self, token: str) -> AccessToken | None:
        caller = await self.tokens.verify(token)
        if caller is None:
            return None
        claims = {"token_id": caller.actor, "integration_id": caller.integration_id}
        return AccessToken(token=token_hash(token), client_id=caller.account_id, scopes=[SCOPE], claims=claims)


def token_caller(access: AccessToken | None) -> Caller | None:
    """The caller a verified practice token stands for, from the SDK's AccessToken; None without one."""
    if access is None or SCOPE not in access.scopes:
        return None
    claims = access.claims or {}
    return Caller(access.client_id, str(claims["token_id"]), claims.get("integration_id"))


def definition(spec: ToolSpec) -> types.Tool:
    hints = spec.hints
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema,
        output_schema=spec.output_schema,
        annotations=ToolAnnotations(
            read_only_hint=hints.read_only,
            destructive_hint=hints.destructive,
            idempotent_hint=hints.idempotent,
            open_world_hint=hints.open_world,
        ),
    )


def call_result(answer: ToolAnswer) -> CallToolResult:
    """The compact JSON for the model and the same data as structured content (none when failed closed)."""
    structured = answer.result.model_dump(mode="json") if answer.result is not None else None
    return CallToolResult(
        content=[TextContent(type="text", text=answer.text)], structured_content=structured, is_error=answer.is_error
    )


def _header(ctx: ServerRequestContext[Services], name: str) -> str:
    headers = getattr(ctx.request, "headers", None) or {}
    return str(headers.get(name) or "").strip()


def _call_context(ctx: ServerRequestContext[Services], caller: Caller) -> Caller:
    """The HTTP request's call id (`X-Call-Id`, `X-Chat-Id`), client address and `X-Caller-Number` (Vapi can
    template `{{customer.number}}` into MCP headers)."""
    call_id = next((value for name in CALL_ID_HEADERS if (value := _header(ctx, name))), "")
    number = _header(ctx, CALLER_NUMBER_HEADER)[:32]
    client = getattr(ctx.request, "client", None)
    return replace(
        caller,
        call_id=call_id[:128] or None,
        client_ip=getattr(client, "host", None),
        caller_number=to_e164(number) if number else None,
    )


def build_mcp_server(
    tools: Sequence[ToolSpec],
    services: Callable[[], AbstractAsyncContextManager[Services]],
    *,
    bound: Caller | None = None,
) -> Server[Services]:
    """Over HTTP the token decides the account (see `auth_settings`); over stdio, `bound` is the one caller
    this process serves. `services` is entered once, by the SDK's session manager."""
    by_name = {tool.name: tool for tool in tools}
    listing = types.ListToolsResult(tools=[definition(tool) for tool in tools])

    async def list_tools(
        ctx: ServerRequestContext[Services], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listing

    async def call_tool(ctx: ServerRequestContext[Services], params: types.CallToolRequestParams) -> CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        caller = bound or token_caller(get_access_token())
        if caller is None:  # over HTTP the SDK answers 401 before this point
            return CallToolResult(content=[TextContent(type="text", text="Not authorised.")], is_error=True)
        if bound is None:
            caller = _call_context(ctx, caller)
        return call_result(await tool.run(ctx.lifespan_context, caller, dict(params.arguments or {})))

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
    settings = {"issuer_url": ISSUER_URL, "resource_server_url": None, "required_scopes": [SCOPE]}
    return AuthSettings.model_validate(settings)


async def serve_stdio(server: Server[Services]) -> None:
    """One MCP connection over stdin/stdout (logs go to stderr)."""
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
