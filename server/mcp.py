"""The MCP server: publishes tools through the official SDK (`MCPServer`) and hands each call to its tool.

The SDK sees every argument as optional and untyped, so it never rejects (or echoes) a value itself; the
published input schema is the tool's own argument model, validated inside the audited call.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from server.auth import SCOPE, PracticeTokenVerifier
from server.services import Services

INSTRUCTIONS = (
    "Tools of one dental practice's front desk. Find the caller with searchPatients, verify them with "
    "getPatientInfo (patientId + dateOfBirth) before sharing or changing anything, check openings with "
    "checkAvailability, then book, move or cancel. Each answer starts with one sentence to say to the caller."
)
CALL_ID_HEADERS = ("x-call-id", "x-chat-id")


@dataclass(frozen=True)
class Invocation:
    """Who is calling: the account comes from the verified token (or the stdio binding), never arguments."""

    services: Services
    account_id: str
    actor: str
    integration_id: str | None = None
    vapi_call_id: str | None = None
    ip_address: str | None = None


@dataclass(frozen=True)
class McpTool:
    name: str
    title: str
    description: str
    args: type[BaseModel]
    result: type[BaseModel]
    annotations: ToolAnnotations
    phi_fields: tuple[str, ...]
    run: Callable[[Invocation, dict[str, Any]], Awaitable[CallToolResult]]


@dataclass(frozen=True)
class AccountBinding:
    account_id: str
    actor: str
    integration_id: str | None = None


def text_result(model: BaseModel, *, is_error: bool) -> CallToolResult:
    """Compact JSON (the speakable `message` first) for the model, and the same data as structured content."""
    return CallToolResult(
        content=[TextContent(type="text", text=model.model_dump_json(exclude_none=True))],
        structured_content=model.model_dump(mode="json"),
        is_error=is_error,
    )


def error_result(sentence: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=sentence)], is_error=True)


def _call_id(ctx: Context) -> str | None:
    headers = ctx.headers or {}
    for name in CALL_ID_HEADERS:
        value = headers.get(name)
        if value and value.strip():
            return value.strip()[:128]
    return None


def _client_ip(ctx: Context) -> str | None:
    client = getattr(ctx.request_context.request, "client", None)
    return getattr(client, "host", None)


def _token_binding() -> AccountBinding | None:
    access = get_access_token()
    if access is None or SCOPE not in access.scopes:
        return None
    claims = access.claims or {}
    integration = claims.get("integration_id")
    return AccountBinding(access.client_id, str(claims.get("token_id", "")), str(integration) if integration else None)


def _sdk_tool(tool: McpTool, bound_account: AccountBinding | None) -> Tool:
    async def handler(*, ctx: Context, **arguments: Any) -> CallToolResult:
        account = bound_account or _token_binding()
        if account is None:  # over HTTP the SDK answers 401 before this point
            return error_result("Not authorised.")
        services: Services = ctx.request_context.lifespan_context  # type: ignore[assignment]
        invocation = Invocation(
            services=services,
            account_id=account.account_id,
            actor=account.actor,
            integration_id=account.integration_id,
            vapi_call_id=_call_id(ctx),
            ip_address=_client_ip(ctx),
        )
        return await tool.run(invocation, {name: value for name, value in arguments.items() if value is not None})

    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    parameters += [
        inspect.Parameter(field.alias or name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Any)
        for name, field in tool.args.model_fields.items()
    ]
    handler.__signature__ = inspect.Signature(parameters, return_annotation=tool.result)  # type: ignore[attr-defined]
    handler.__annotations__ = {"ctx": Context, "return": tool.result}
    sdk_tool = Tool.from_function(
        handler, name=tool.name, title=tool.title, description=tool.description, annotations=tool.annotations
    )
    return sdk_tool.model_copy(update={"parameters": tool.args.model_json_schema(by_alias=True)})


def build_mcp_server(
    tools: Sequence[McpTool],
    services: Callable[[], AbstractAsyncContextManager[Services]],
    *,
    token_verifier: PracticeTokenVerifier | None = None,
    bound_account: AccountBinding | None = None,
    issuer_url: str = "http://127.0.0.1:8000",
) -> MCPServer[Services]:
    """Over HTTP, `token_verifier` authenticates every request; over stdio, `bound_account` is the one
    account this process serves. `services` is entered once, by the SDK's session manager."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[Services]) -> AsyncIterator[Services]:
        async with services() as ready:
            yield ready

    auth = None
    if token_verifier is not None:
        auth = AuthSettings.model_validate(
            {"issuer_url": issuer_url, "resource_server_url": None, "required_scopes": [SCOPE]}
        )
    return MCPServer(
        name="parlae-pms",
        title="Parlae dental front desk",
        instructions=INSTRUCTIONS,
        version="0.1.0",
        tools=[_sdk_tool(tool, bound_account) for tool in tools],
        token_verifier=token_verifier,
        auth=auth,
        lifespan=lifespan,
        log_level="WARNING",
    )
