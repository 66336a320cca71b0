"""`vapi-config`: the tool definitions for a Vapi assistant."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click
from sqlalchemy import select

from app import vapi
from app.cli.common import OperationFailed, active_integration, audited_operation, with_services
from app.mcp_http import MCP_PATH
from app.toolcalls import PATH as TOOL_CALLS_PATH
from server.auth import issue_token
from server.db.models import PmsIntegration
from server.services import Services
from server.sikka.zones import zone
from tools import ALL_TOOLS


@click.command("vapi-config")
@click.option("--account-id", required=True)
@click.option(
    "--url",
    required=True,
    help="The public endpoint: https://HOST/mcp for the MCP tool, https://HOST/vapi/tool-calls with --server-tools "
    "(a bare https://HOST gets the path).",
)
@click.option("--credential-id", default=None, help="A Vapi Bearer credential id (preferred to a literal header).")
@click.option(
    "--server-tools",
    is_flag=True,
    help="Print one Vapi function tool per tool (POST /vapi/tool-calls) instead of the MCP tool.",
)
@click.option(
    "--system-prompt",
    is_flag=True,
    help='Print {"systemPrompt": ...}: lines for the assistant\'s system prompt giving the practice-local date '
    "and time (Vapi template variables), instead of the tools. Issues no token.",
)
def vapi_config(account_id: str, url: str, credential_id: str | None, server_tools: bool, system_prompt: bool) -> None:
    """Print the Vapi tool JSON: the MCP tool, or with --server-tools a JSON array of function tools. Without
    --credential-id, a new token is issued and embedded (shown once). With --system-prompt, the system-prompt
    lines for the practice's date and time instead."""

    if not url.startswith("https://") and "127.0.0.1" not in url and "localhost" not in url:
        raise click.BadParameter("must be an https:// URL", param_hint="--url")
    endpoint = with_path(url, TOOL_CALLS_PATH if server_tools else MCP_PATH)

    def config(token: str | None) -> Any:
        if server_tools:
            return vapi.server_tools(ALL_TOOLS, endpoint, token=token, credential_id=credential_id)
        return vapi.vapi_tool(endpoint, token=token, credential_id=credential_id)

    async def run(services: Services) -> Any:
        await active_integration(services, account_id)
        if system_prompt:
            zone = await practice_zone(services, account_id)
            return {"systemPrompt": vapi.system_prompt(zone), "timeZone": zone}
        if credential_id:
            return config(None)
        issued = await audited_operation(
            services,
            "tokens.issue",
            "C",
            f"token for account {account_id} (vapi-config)",
            lambda: issue_token(services.sessions, account_id, "vapi"),
        )
        return config(issued.token)

    click.echo(json.dumps(with_services(run), indent=2))


async def practice_zone(services: Services, account_id: str) -> str:
    """The practice's IANA time zone, as onboarding stored it."""
    async with services.sessions() as session:
        stored = await session.scalar(select(PmsIntegration.time_zone).where(PmsIntegration.account_id == account_id))
    if not stored:
        raise OperationFailed(f"account {account_id} has no time zone on file")
    return zone(stored).key


def with_path(url: str, path: str) -> str:
    """`url` as given, or with `path` when it names only the host."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=path)) if parts.path in ("", "/") else url
