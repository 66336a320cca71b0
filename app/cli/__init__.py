"""`parlae-mcp`: every operator command, one module per command group. Exit codes: 0 ok, 1 the operation
failed, 2 bad usage or configuration."""

from __future__ import annotations

import click

from app.cli import audit, data, db, practices, serve, staff, tokens, vapi


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Parlae PMS tool server: MCP tools for AI dental receptionists, through Sikka."""


for command in (
    serve.serve,
    serve.stdio,
    serve.sandbox,
    db.db,
    tokens.tokens,
    practices.practices,
    audit.audit,
    data.retention,
    data.phi,
    staff.followups,
    staff.messages,
    vapi.vapi_config,
):
    main.add_command(command)

__all__ = ["main"]
