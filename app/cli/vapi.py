"""`vapi-config`: the tool definitions for a Vapi assistant."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click

from app import vapi
from app.cli.common import active_integration, audited_operation, with_services
from app.mcp_http import MCP_PATH
from app.toolcalls import PATH as TOOL_CALLS_PATH
from server.auth import issue_token
from server.services import Services
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
def vapi_config(account_id: str, url: str, credential_id: str | None, server_tools: bool) -> None:
    """Print the Vapi tool JSON: the MCP tool, or with --server-tools a JSON array of function tools. Without
    --credential-id, a new token is issued and embedded (shown once)."""

    if not url.startswith("https://") and "127.0.0.1" not in url and "localhost" not in url:
        raise click.BadParameter("must be an https:// URL", param_hint="--url")
    endpoint = with_path(url, TOOL_CALLS_PATH if server_tools else MCP_PATH)

    def config(token: str | None) -> Any:
        if server_tools:
            return vapi.server_tools(ALL_TOOLS, endpoint, token=token, credential_id=credential_id)
        return vapi.vapi_tool(endpoint, token=token, credential_id=credential_id)

    async def run(services: Services) -> Any:
        await active_integration(services, account_id)
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


def with_path(url: str, path: str) -> str:
    """`url` as given, or with `path` when it names only the host."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=path)) if parts.path in ("", "/") else url
