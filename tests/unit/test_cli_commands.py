"""The `parlae-mcp` command table: every name resolves to its command, and operator jobs start lean."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from app.cli import COMMANDS, command, main

# What a scheduled job must not load: the web server and its routing, the MCP SDK, the sandbox.
SERVER_ONLY = ("mcp", "mcp_types", "uvicorn", "starlette.routing", "starlette.responses", "sandbox", "app.main")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_name_resolves_to_the_command_of_that_name(name: str) -> None:
    found = command(name)
    assert isinstance(found, click.Command)
    assert found.name == name


def test_an_unknown_command_is_a_usage_error() -> None:
    assert main.get_command(click.Context(main), "nope") is None
    with pytest.raises(KeyError):
        command("nope")


def test_jobs_and_data_commands_do_not_load_the_server() -> None:
    probe = (
        "import sys; from app.cli import command\n"
        "for name in ('db', 'retention', 'audit', 'practices', 'tokens', 'phi', 'messages'):\n"
        "    command(name)\n"
        f"print(sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') for p in {SERVER_ONLY!r})))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
