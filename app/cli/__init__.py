"""`parlae-mcp`: every operator command, one module per command group. Exit codes: 0 ok, 1 the operation
failed, 2 bad usage or configuration.

Command groups are imported when they are used, so `db upgrade` or a scheduled `retention purge` starts without
loading the web server, the MCP SDK and the sandbox.
"""

from __future__ import annotations

import importlib

import click

COMMANDS = {
    "serve": "app.cli.serve:serve",
    "stdio": "app.cli.serve:stdio",
    "sandbox": "app.cli.serve:sandbox",
    "db": "app.cli.db:db",
    "tokens": "app.cli.tokens:tokens",
    "practices": "app.cli.practices:practices",
    "audit": "app.cli.audit:audit",
    "retention": "app.cli.data:retention",
    "phi": "app.cli.data:phi",
    "messages": "app.cli.staff:messages",
    "vapi-config": "app.cli.vapi:vapi_config",
}


class LazyGroup(click.Group):
    """A group whose commands are named up front (`COMMANDS`) and imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        found: click.Command = getattr(importlib.import_module(module), attribute)
        return found


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Parlae PMS tool server: MCP tools for AI dental receptionists, through Sikka."""


def command(name: str) -> click.Command:
    """One command of `parlae-mcp` by name (imports its module)."""
    found = main.get_command(click.Context(main), name)
    if found is None:
        raise KeyError(name)
    return found


__all__ = ["command", "main"]
