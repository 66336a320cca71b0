"""`vapi-config`: the tool definitions for a Vapi assistant."""

from __future__ import annotations

import json
from typing import Any

import click

from app.cli.common import (
    active_integration,
    audited_operation,
    with_services,
)
from app.vapi import vapi_tool
from server.auth import issue_token
from server.services import Services


@click.command("vapi-config")
@click.option("--account-id", required=True)
@click.option("--url", required=True, help="The public MCP endpoint, e.g. https://mcp.example.com/mcp.")
@click.option("--credential-id", default=None, help="A Vapi Bearer credential id (preferred to a literal header).")
def vapi_config(account_id: str, url: str, credential_id: str | None) -> None:
    """Print the Vapi MCP tool JSON; without --credential-id, a new token is issued and embedded (shown once)."""

    if not url.startswith("https://") and "127.0.0.1" not in url and "localhost" not in url:
        raise click.BadParameter("must be an https:// URL", param_hint="--url")

    async def run(services: Services) -> dict[str, Any]:
        await active_integration(services, account_id)
        if credential_id:
            return vapi_tool(url, credential_id=credential_id)
        issued = await audited_operation(
            services,
            "tokens.issue",
            "C",
            f"token for account {account_id} (vapi-config)",
            lambda: issue_token(services.sessions, account_id, "vapi"),
        )
        return vapi_tool(url, token=issued.token)

    click.echo(json.dumps(with_services(run), indent=2))
